"""The IceProd Tasks API: builds the Chalice app and registers its blueprints. Nothing else."""

from chalice import Chalice

from chalicelib import config, observability, routes
from chalicelib.events import handlers

app = Chalice(app_name="iceprod-tasks")
observability.setup_logging()
for blueprint in routes.blueprints(config.ICEPROD_API_VERSION):
    app.register_blueprint(blueprint)
app.register_blueprint(handlers.bp)
