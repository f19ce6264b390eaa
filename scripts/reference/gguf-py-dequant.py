"""Writes tests/fixtures/dequant/gguf-py.json: blocks of every quant type and gguf-py's dequantization.

    pip install gguf==0.19.0 numpy
    ZINC_MODELS=.cache/models python3 scripts/reference/gguf-py-dequant.py > tests/fixtures/dequant/gguf-py.json
"""
import json
import os
import sys

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize

models = os.environ.get("ZINC_MODELS", ".cache/models")
rng = np.random.default_rng(1234)
cases = []

# First two rows of one tensor per type present in the real models.
seen = set()
for name in ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"]:
    reader = GGUFReader(os.path.join(models, name))
    for t in reader.tensors:
        if t.tensor_type.name in seen or len(t.shape) < 2:
            continue
        seen.add(t.tensor_type.name)
        block_values, block_bytes = gguf.GGML_QUANT_SIZES[t.tensor_type]
        row_values = int(t.shape[0])
        row_bytes = row_values // block_values * block_bytes
        raw = np.asarray(t.data).reshape(-1).view(np.uint8)[: 2 * row_bytes]
        values = dequantize(raw.reshape(2, row_bytes), t.tensor_type).reshape(-1).astype(np.float32)
        cases.append({"source": f"{name}:{t.name}", "type": t.tensor_type.name, "values": 2 * row_values,
                      "bytes_hex": raw.tobytes().hex(), "expected_f32_hex": values.tobytes().hex()})

# Every type: random blocks whose f16 scales are set to modest values.
scale_fields = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "IQ4_NL": [0], "Q2_K": [80, 82],
                "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208], "IQ4_XS": [0], "TQ1_0": [52], "TQ2_0": [64]}
for name in ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL",
             "IQ4_XS", "TQ1_0", "TQ2_0"]:
    qtype = T[name]
    block_values, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    blocks = 4 if block_values == 256 else 16
    raw = rng.integers(0, 256, size=blocks * block_bytes, dtype=np.uint8)
    for b in range(blocks):
        for offset in scale_fields.get(name, []):
            scale = np.uint16(0x2000 + rng.integers(0, 0x400))
            raw[b * block_bytes + offset: b * block_bytes + offset + 2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
    if name == "F16":
        raw = rng.standard_normal(blocks).astype(np.float16).view(np.uint8)
    if name == "BF16":
        f = rng.standard_normal(blocks * block_values).astype(np.float32).view(np.uint32)
        raw = (f >> 16).astype(np.uint16).view(np.uint8)
    values = dequantize(raw.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
    cases.append({"source": "random blocks", "type": name, "values": int(blocks * block_values),
                  "bytes_hex": raw.tobytes().hex(), "expected_f32_hex": values.tobytes().hex()})

json.dump({"generator": "scripts/reference/gguf-py-dequant.py with gguf==0.19.0", "cases": cases}, sys.stdout)
