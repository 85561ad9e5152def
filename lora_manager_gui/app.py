"""Wiring: QApplication + qasync loop, executors, database, HTTP client, services, main window."""
from __future__ import annotations

import argparse
import sys


def run_app(args: argparse.Namespace) -> int:
    print("lora-manager: the window is not built yet (see the issues); use a subcommand, e.g. 'lora-manager import ROOT'", file=sys.stderr)
    return 2
