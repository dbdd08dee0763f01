"""The IceProd Tasks API: builds the Chalice app and registers its blueprints. Nothing else."""

from chalice import Chalice

from chalicelib import observability
from chalicelib.events import handlers
from chalicelib.routes import actions, api, counts, datasets, files, status, tasks

app = Chalice(app_name="iceprod-tasks")
observability.setup_logging()
app.register_blueprint(api.framework)
app.register_blueprint(tasks.bp)
app.register_blueprint(datasets.bp)
app.register_blueprint(files.bp)
app.register_blueprint(actions.bp)
app.register_blueprint(counts.bp)
app.register_blueprint(status.bp)
app.register_blueprint(handlers.bp)
