import os

from hypothesis import settings

pytest_plugins = ["pytester"]

# The default run is a gate: hypothesis replays the same inputs every time,
# so a red run means a change broke something. CACHEWATCH_FULL=1 explores new
# ones (the failing input is printed, to pin as a test). No example database:
# a run does not depend on what an earlier one found on this machine.
settings.register_profile("cachewatch-ci", derandomize=True, database=None)
settings.register_profile("cachewatch-full", database=None)
settings.load_profile("cachewatch-full" if os.environ.get("CACHEWATCH_FULL") == "1"
                      else "cachewatch-ci")
