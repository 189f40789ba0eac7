"""``mnistlab serve RUN`` and ``mnistlab loadtest URL``."""

from __future__ import annotations

import argparse

from mnistlab.cli.options import add_data_dir, add_tta
from mnistlab.config import ENGINES
from mnistlab.errors import MnistlabError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("serve", help="serve a run over HTTP: JSON API (docs at /docs) and a draw-a-digit page at /")
    parser.add_argument("run", help="a run folder")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument("--engine", choices=ENGINES, default="torch", help="inference engine (onnx needs `mnistlab export`)")
    add_tta(parser)
    add_data_dir(parser)
    parser.set_defaults(handler=run_serve)

    load = commands.add_parser("loadtest", help="concurrent clients against a running server: p50/p99 latency, requests/s")
    load.add_argument("url", help="the server's predict URL, e.g. http://127.0.0.1:8000/predict")
    load.add_argument("--clients", type=int, default=100, help="concurrent clients (default: %(default)s)")
    load.add_argument("--requests", type=int, default=20, help="requests per client (default: %(default)s)")
    load.set_defaults(handler=run_loadtest)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mnistlab.prediction.predictor import Predictor
    from mnistlab.serve.app import create_app

    predictor = Predictor(args.run, engine=args.engine, tta=args.tta, data_dir=args.data_dir)  # a bad run fails here, in one line, before the server starts
    print(f"Serving {args.run} on http://{args.host}:{args.port}/ (API docs at /docs)", flush=True)
    uvicorn.run(create_app(predictor), host=args.host, port=args.port, log_level="warning")
    return 0


def run_loadtest(args: argparse.Namespace) -> int:
    from mnistlab.serve.loadtest import load_test

    if args.clients < 1 or args.requests < 1:
        raise MnistlabError("--clients and --requests must be at least 1")
    result = load_test(args.url, args.clients, args.requests)
    print(result.summary())
    return 0 if result.errors == 0 else 1
