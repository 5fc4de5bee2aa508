"""The pure core and the family records load without torch, transformers or trl (checked in a fresh process).

A verl or OpenRLHF reward function imports ``grit.rewards`` and looks up a family's frame; neither may pull in
the training stack.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "trl")

PROBE = """
import json, sys
import grit.boxes, grit.chain, grit.rewards, grit.judge, grit.judge.llm, grit.judge.rule, grit.metrics
from grit.models import FAMILY_MODULES, family_for_model_type, get_family, list_families

frames = {}
for name in FAMILY_MODULES:
    family = get_family(name)
    frames[name] = [family.frame_for(640, 354).kind, family.prompt("How many?")[:9], family.part_of("model.lm_head")]
frames["types"] = [family_for_model_type(t) for t in ("qwen2_5_vl", "internvl", "llava")]
frames["rows"] = len(list_families())
print(json.dumps({"frames": frames, "loaded": [m for m in %r if m in sys.modules]}))
"""


def test_core_and_family_records_import_no_torch_transformers_or_trl():
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,)], capture_output=True, text=True, check=True, timeout=120
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == [], f"heavy modules imported: {result['loaded']}"
    frames = result["frames"]
    assert frames["qwen2_5_vl"] == ["resized", "Question:", "language"]
    assert frames["internvl"][0] == frames["qwen3_vl"][0] == "norm"
    assert frames["types"] == ["qwen2_5_vl", "internvl", "generic"]
    assert frames["rows"] == 5
