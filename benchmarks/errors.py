"""The one exception of the benchmarks: the commands turn it into a CommandError."""


class BenchmarkError(ValueError):
    """Bad options, missing images or an unusable server: the message says which value and why."""
