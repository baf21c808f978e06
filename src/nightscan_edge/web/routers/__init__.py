"""One router per resource: models, datasets, runs, exports, ws (each serves its pages and its JSON API)."""
