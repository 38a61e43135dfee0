// The wasm backend's memory ceiling. Its heap is one 32-bit WebAssembly memory:
// tfjs-backend-wasm 4.22 lets it grow to 4 GiB - 64 KiB, and a training step
// that needs more dies inside XNNPACK (the single-threaded build throws a
// TypeError out of the module, the threaded one hangs). A recipe that cannot
// fit is refused before anything runs, naming the largest batch that would.
//
// The estimate: a step's peak is the tape (every tensor the forward pass
// saves for the backward pass: conv outputs, and the batch-norm/relu
// intermediates on top of each) plus the backward pass's temporaries (the
// convolution-gradient shims' padded and transposed copies). All of these are
// a few tensors the size of each layer's output, so the peak is a fixed
// multiple of "activation elements per image" (the sum of every layer's
// output size, computed from the model config) times the images on the tape.
// The multiple is measured, not derived: see ACTIVATION_COPIES.
import { projectionHeadDims } from '../models/heads.ts';
import { backboneConvs } from '../models/resnet.ts';
import type { Recipe } from '../recipe/index.ts';
import type { ModelConfig } from '../recipe/sections/model.ts';
import type { MethodConfig } from '../recipe/sections/method.ts';
import { isSupervised } from '../recipe/sections/method.ts';
import { UserError } from '../util/errors.ts';

/** tfjs-backend-wasm 4.22's getHeapMax(): the most its memory grows to. */
export const WASM_HEAP_MAX_BYTES = 4294901760;

/**
 * Bytes of heap per activation element on the tape (about 20 float32 copies).
 * Measured as the heap's high-water mark after one step on the threaded wasm
 * build (2 threads), 2026-12-01; the estimate with this constant against it:
 *   default resnet [32,64,128] 32x32x3 SimCLR, batch 8 / 16 / 32 / 64 / 128 / 144:
 *     heap 260 / 450 / 933 / 1741 / 3511 / 4019 MB, estimate 1.20 / 1.22 / 1.09 / 1.13 / 1.10 / 1.08 x that;
 *   the same at 28x28x1, batch 64: 1357 MB, 1.11 x;  MoCo v2 (one view on the tape), batch 64: 930 MB, 1.10 x;
 *   resnet [16,32,64] x [2,2,2], batch 64: 1472 MB, 1.12 x;  resnet [64,128], batch 32: 1517 MB, 1.11 x;
 *   resnet18 32x32x3, batch 16: 1819 MB, 1.15 x.
 * The metric-learning methods (labels; 2026-12-01 evening, same build), default model 32x32x3, both views:
 *   supcon / triplet / contrastive / multisimilarity, batch 64: 1772-1774 MB, 1.06 x each; triplet, batch 128:
 *   3474 MB, 1.06 x; supcon with method.views = 1, batch 64: 881 MB, 1.11 x. Their pairwise losses add
 *   nothing measurable next to the encoder's tape.
 * The real ceiling of the default model at 32x32x3: batch 152 ran (3 steps; the heap reached its 4 GiB
 * maximum), 160 did not (threaded build hung, one thread threw inside the module). This estimate
 * allows 143, about 6% under it.
 */
export const BYTES_PER_ACTIVATION = 84;

/** Heap the module holds before any tensor (its initial memory), plus slack for XNNPACK's caches. */
const BASE_BYTES = 64 * 2 ** 20;

/**
 * Copies of each parameter alive at the peak: the weights, their gradients,
 * up to two optimizer slots, a key encoder (MoCo), XNNPACK's packed weights and
 * the backward pass's transposed filters.
 */
const PARAM_COPIES = 8;

export interface WasmBudgetInput {
  batchSize: number;
  imageSize: number;
  channels: number;
  model: Pick<ModelConfig, 'backbone' | 'widths' | 'blocks' | 'head_hidden' | 'head_out'> & { head_layers?: number };
  /** Images per batch item that go through the encoder under the gradient tape (SimCLR: both views). */
  tapedViews: number;
}

export interface WasmStepEstimate {
  /** Estimated heap at the step's peak. */
  bytes: number;
  /** Activation elements per image (every layer's output, the input image and the head). */
  activationsPerImage: number;
  parameters: number;
}

/** Activation elements per image (the input and every conv's output) and parameters, from the backbone's layout. */
function countModel(input: Omit<WasmBudgetInput, 'batchSize' | 'tapedViews'>): { activations: number; parameters: number } {
  const { backbone: arch, widths, blocks } = input.model;
  const convs = backboneConvs({ arch, widths, blocks, inChannels: input.channels }, input.imageSize);
  // Each conv is followed by a batch norm (gamma, beta and the two running statistics).
  let activations = input.imageSize * input.imageSize * input.channels;
  let parameters = 0;
  for (const c of convs) {
    activations += c.outSize * c.outSize * c.outC;
    parameters += c.kernel * c.kernel * c.inC * c.outC + 4 * c.outC;
  }
  const inC = convs[convs.length - 1].outC;
  activations += inC;
  const { head_hidden: hid, head_out: out, head_layers: layers = 2 } = input.model;
  if (out > 0) {
    // Each hidden layer: weights and its batch norm; the last: weights and bias.
    const dims = projectionHeadDims(inC, hid, out, layers);
    for (let i = 1; i < dims.length; i++) {
      activations += dims[i];
      parameters += dims[i - 1] * dims[i] + (i + 1 < dims.length ? 4 : 1) * dims[i];
    }
  }
  return { activations, parameters };
}

export function estimateWasmStep(input: WasmBudgetInput): WasmStepEstimate {
  const { activations, parameters } = countModel(input);
  const bytes = BASE_BYTES + PARAM_COPIES * 4 * parameters + BYTES_PER_ACTIVATION * activations * input.tapedViews * input.batchSize;
  return { bytes, activationsPerImage: activations, parameters };
}

/** The largest batch whose estimated step fits the heap (0 when not even batch 1 does). */
export function largestWasmBatch(input: Omit<WasmBudgetInput, 'batchSize'>): number {
  const fixed = estimateWasmStep({ ...input, batchSize: 0 }).bytes;
  const perItem = estimateWasmStep({ ...input, batchSize: 1 }).bytes - fixed;
  return Math.max(0, Math.floor((WASM_HEAP_MAX_BYTES - fixed) / perItem));
}

/** Images per batch item on the gradient tape, by method (MoCo's key encoder runs outside the tape). */
export function tapedViews(method: Pick<MethodConfig, 'name' | 'symmetric' | 'views'>): number {
  if (method.name === 'simclr' || method.name === 'mocov3') return 2;
  if (method.name === 'mocov2') return method.symmetric ? 2 : 1;
  if (isSupervised(method.name)) return method.views;
  return 2;
}

export function wasmBudgetInput(r: Recipe): WasmBudgetInput {
  return {
    batchSize: r.train.batch_size, imageSize: r.data.image_size, channels: r.data.channels,
    model: r.model, tapedViews: tapedViews(r.method),
  };
}

const gib = (b: number) => (b / 2 ** 30).toFixed(1);

/**
 * Throws a UserError when `backend` is wasm and the recipe's training step
 * would not fit its heap; a no-op on every other backend.
 */
export function checkWasmBudget(r: Recipe, backend: string): void {
  if (backend !== 'wasm') return;
  const input = wasmBudgetInput(r);
  const est = estimateWasmStep(input);
  if (est.bytes <= WASM_HEAP_MAX_BYTES) return;
  const fits = largestWasmBatch(input);
  const model = r.model.backbone === 'resnet18' ? 'resnet18' : `resnet widths [${r.model.widths.join(',')}] blocks [${r.model.blocks.join(',')}]`;
  const advice = fits > 0 ? `the largest that fits is ${fits}` : 'no batch size fits; use smaller images or a narrower model';
  throw new UserError(
    `train.batch_size: ${input.batchSize} needs about ${gib(est.bytes)} GiB at the peak of a training step on the wasm backend `
    + `(${model}, ${input.imageSize}x${input.imageSize}x${input.channels} images, ${input.tapedViews} view(s) per item), `
    + `more than its 4 GiB heap; ${advice}, or train on another backend (--backend native)`,
  );
}
