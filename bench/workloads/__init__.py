"""Macro workloads: realistic multi-threaded programs, each correctly
synchronised, each with module-level shared state for cachewatch to watch.
Every module has run(scale) -> a checksum of its result (the same with and
without cachewatch, or cachewatch changed what the program computes), and
SCALE, the scale of a run of about a second on a 2-core machine."""
