"""The IceProd Tasks API: builds the Chalice app and registers its blueprints. Nothing else."""

from chalice import Chalice

from chalicelib import observability
from chalicelib.events import handlers
from chalicelib.routes import actions, counts, datasets, files, middleware, tasks

app = Chalice(app_name="iceprod-tasks")
observability.setup_logging()
app.register_blueprint(middleware.http)
app.register_blueprint(tasks.bp)
app.register_blueprint(datasets.bp)
app.register_blueprint(files.bp)
app.register_blueprint(actions.bp)
app.register_blueprint(counts.bp)
app.register_blueprint(handlers.bp)
