"""Write the legacy-checksum fixtures ``states.json``.

Run once, by hand, with pystream *before* the FNV-1a offset-basis fix
(main at 9a66e1e): ``python tests/data/legacy_fnv/make_fixtures.py``.  Each
state is built from deterministic inputs that
``tests/test_hostile_states.py::legacy_states`` rebuilds with the current
code; the test loads the stored bytes and compares.  With the fixed code
the script refuses to run (it would overwrite the fixtures with
standard-basis checksums).
"""
import json
import pathlib
import struct
import sys


def main() -> int:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # tests/
    import pystream as ps
    from state_fuzz import FNV_OFFSET_LEGACY, fnv1a
    from test_hostile_states import legacy_states

    probe = ps.Moments().to_bytes()
    if probe[-8:] != struct.pack("<Q", fnv1a(probe[:-8], FNV_OFFSET_LEGACY)):
        print("this pystream writes standard checksums: run with the code before the fix")
        return 1
    out = {name: make().to_bytes().hex() for name, make in legacy_states().items()}
    path = pathlib.Path(__file__).with_name("states.json")
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(out)} states to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
