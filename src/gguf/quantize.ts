/**
 * `zinc quantize`: rewrite a GGUF model with its matrices in another type. Each tensor is read from the
 * mapped input, dequantized to f32 and quantized with the reference (ggml-compatible) quantizers, one tensor
 * in memory at a time; the output is written to a temporary file and renamed into place.
 *
 * The mix follows llama.cpp's spirit: 1-D tensors (norms, biases) stay F32; the token embedding and the output
 * matrix keep 8 bits when the target is 4 or 5 bits; a matrix whose rows do not divide into the target's
 * blocks falls back to F16.
 */
import { ZincError } from "../errors.ts";
import { nativeAddress, type Kernels } from "../native/index.ts";
import type { GgufFile, GgufValue, TensorInfo } from "./reader.ts";
import { tensorType, type TensorTypeInfo } from "./types.ts";
import { writeGguf, type MetadataValue, type TensorToWrite, type TypedValue } from "./writer.ts";

/** Target name → (GGUF general.file_type, tensor type). */
export const quantizeTargets: Record<string, { fileType: number; type: string }> = {
  F32: { fileType: 0, type: "F32" },
  F16: { fileType: 1, type: "F16" },
  Q4_0: { fileType: 2, type: "Q4_0" },
  Q4_1: { fileType: 3, type: "Q4_1" },
  Q8_0: { fileType: 7, type: "Q8_0" },
  Q5_0: { fileType: 8, type: "Q5_0" },
  BF16: { fileType: 32, type: "BF16" },
};

export function chooseTensorType(t: TensorInfo, target: TensorTypeInfo): TensorTypeInfo {
  if (t.shape.length < 2) return tensorType("F32");
  const lowBits = ["Q4_0", "Q4_1", "Q5_0"].includes(target.name);
  let chosen = target;
  if (lowBits && (t.name === "token_embd.weight" || t.name === "output.weight")) chosen = tensorType("Q8_0");
  if (t.shape[0] % chosen.blockValues !== 0) chosen = tensorType("F16");
  return chosen;
}

/** The value as the writer needs it, with the GGUF type it had in the input (f32 stays f32 even when integral). */
function typedValue(value: GgufValue, types: { type: string; elementType?: string }): MetadataValue {
  if (types.type === "array") {
    // Nested arrays are rare in model files; their elements are written with their own plain types.
    return { type: "array", elementType: (types.elementType ?? "string") as TypedValue["type"], value: value as (number | string | bigint | boolean)[] } as TypedValue;
  }
  if (types.type === "string") return value as string;
  if (types.type === "bool") return value as boolean;
  return { type: types.type, value } as TypedValue;
}

export function quantizeModel(input: GgufFile, outputPath: string, targetName: string, kernels: Kernels, progress?: (done: number, total: number) => void): { tensors: number; bytes: number } {
  const target = quantizeTargets[targetName.toUpperCase()];
  if (!target) throw new ZincError(`cannot quantize to "${targetName}"`, `zinc quantize supports ${Object.keys(quantizeTargets).join(", ")} so far`);
  const targetType = tensorType(target.type);
  const metadata: Record<string, MetadataValue> = {};
  for (const [key, value] of input.metadata) {
    if (key === "general.alignment") continue;
    metadata[key] = typedValue(value, input.metadataTypes.get(key)!);
  }
  metadata["general.file_type"] = { type: "u32", value: target.fileType };
  metadata["general.quantization_version"] = { type: "u32", value: 2 };
  let done = 0;
  const tensors: TensorToWrite[] = input.tensors.map((t) => {
    const type = chooseTensorType(t, targetType);
    return {
      name: t.name,
      type,
      shape: t.shape,
      data: () => {
        const values = new Float32Array(t.elementCount);
        kernels.dequantizeRow(t.type, nativeAddress(input.address + t.offset), t.byteSize, values);
        const rows = t.elementCount / t.shape[0];
        const out = new Uint8Array((t.elementCount / type.blockValues) * type.blockBytes);
        kernels.quantizeWeights(type, values, rows, t.shape[0], out);
        progress?.(++done, input.tensors.length);
        return out;
      },
    };
  });
  writeGguf(outputPath, metadata, tensors, input.alignment);
  return { tensors: tensors.length, bytes: tensors.reduce((n, t) => n + (t.shape.reduce((a, b) => a * b, 1) / t.type.blockValues) * t.type.blockBytes, 0) };
}
