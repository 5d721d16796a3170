"""Write the legacy-checksum fixtures (run once, with pystream before the
FNV-1a offset-basis fix, i.e. main at 9a66e1e).

Each state is built from deterministic inputs that
``tests/test_hostile_states.py::legacy_states`` rebuilds with the current
code; the test loads the stored bytes and compares.
"""
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # tests/
from test_hostile_states import legacy_states  # noqa: E402

out = {name: make().to_bytes().hex() for name, make in legacy_states().items()}
path = pathlib.Path(__file__).with_name("states.json")
path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
print(f"wrote {len(out)} states to {path}")
