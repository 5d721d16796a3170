"""Terminal operations: one spec per operation (:mod:`.protocol`), driven by
the local loop and the engines (:mod:`.run`), push sinks and fan-out
(:mod:`.fanout`); the Stream and Pipeline methods come from the spec table
(:mod:`.methods`).  See ``docs/internals/terminals.rst``."""
