// Training kernels tfjs-backend-webgpu 4.22 lacks or gets wrong, registered for 'webgpu'.
export function registerWebgpuTrainingKernels(): string[] {
  return [];
}
