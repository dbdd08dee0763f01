"""HTTP routes: Chalice blueprints, thin (parse, call a service, shape the answer)."""
