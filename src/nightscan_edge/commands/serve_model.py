"""``nightscan-edge serve-model RUN``: serve only ``POST /api/predict`` with a run's FP32 model (edge fallback)."""

from __future__ import annotations

import argparse

from nightscan_edge.commands import Subparsers
from nightscan_edge.predict.classifier import load_server_classifier


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "serve-model",
        help="serve POST /api/predict with a run's FP32 PyTorch model (the fallback server)",
        description="Uses the run's distillation teacher when its config names one (the bigger model), else the run.",
    )
    parser.add_argument("run", help="run folder or checkpoint file")
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for phones on the LAN)"
    )
    parser.add_argument("--port", type=int, default=5003, help="port (default 5003; the web UI uses 5002)")
    parser.add_argument("--no-teacher", action="store_true", help="serve the run's own model even if it has a teacher")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # deferred: needs the web extra; the CLI must start without it
    import uvicorn

    from nightscan_edge.predict.server_api import create_predict_app

    classifier = load_server_classifier(args.run, use_teacher=not args.no_teacher)  # fail before binding the port
    print(f"serving {classifier.name} ({classifier.description}) on http://{args.host}:{args.port}/api/predict")
    uvicorn.run(create_predict_app(classifier), host=args.host, port=args.port, log_level="warning")
    return 0
