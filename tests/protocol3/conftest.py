"""IceProd 3's protocol: these tests run in their own pytest process with
``ICEPROD_API_VERSION=3`` (``make test`` does so on both engines), since a process serves one
protocol, as a deployment does. Under protocol 2 they are not collected."""

from chalicelib import config

collect_ignore_glob = [] if config.ICEPROD_API_VERSION == "3" else ["test_*.py"]
