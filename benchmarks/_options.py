"""Command-line options shared by the benchmark scripts."""

import json


def add_ddc_param(parser, example="ridge=1e-4"):
    """Add ``--ddc-param NAME=VALUE`` (repeatable, VALUE read as JSON) to
    ``parser``: a parameter of the script's DDC-HM learners to change."""
    parser.add_argument(
        "--ddc-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="DDC-HM parameter to change (VALUE read as JSON), e.g. "
        f"{example}; repeatable",
    )


def ddc_params(items):
    """The ``--ddc-param`` items as a dict of parameters (in order; a later
    item for the same name wins)."""
    return {key: json.loads(value) for key, value in (i.split("=", 1) for i in items)}
