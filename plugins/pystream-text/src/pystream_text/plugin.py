"""pystream hook implementations of pystream-text (cheap to import: no parsing happens here)."""

from pystream.hookspecs import hookimpl


@hookimpl
def register_sources(register):
    from ._log import from_log

    register("log", from_log, example="../../docs/examples/plugins/plot_text_access_log.py")


@hookimpl
def register_reducers(register):
    from ._count import CountBy

    register("count_by", CountBy, family="text",
             example="../../docs/examples/plugins/plot_text_count_by.py")
