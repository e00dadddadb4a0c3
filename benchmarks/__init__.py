"""Development benchmarks: the load benchmark and every `benchmark_*` command, with the work of
each in its own module (see README.md). Nothing here is on the portal's request path, and no
product app (vault, compression, accounts) imports it: the dependencies point from here to them."""
