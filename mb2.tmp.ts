const n = 11_000_000;
const w = new Float32Array(n).map((_, i) => Math.sin(i)); const g = w.map((x) => x * 0.1); let v = new Float32Array(n);
const f = Math.fround;
const time = (l: string, fn: () => void) => { fn(); const t0 = performance.now(); for (let i = 0; i < 3; i++) fn(); console.log(l, ((performance.now() - t0) / 3).toFixed(1)); };
time('inplace no fround', () => { for (let i = 0; i < n; i++) { const d = g[i] + 5e-4 * w[i]; v[i] = 0.9 * v[i] + d; w[i] -= 0.1 * v[i]; } });
time('inplace fround', () => { const mu = f(0.9), wd = f(5e-4), lr = f(0.1); for (let i = 0; i < n; i++) { const d = f(g[i] + f(w[i] * wd)); const vv = f(f(v[i] * mu) + d); v[i] = vv; w[i] = w[i] - f(vv * lr); } });
time('alloc fround', () => { const mu = f(0.9), wd = f(5e-4), lr = f(0.1); const wn = new Float32Array(n), vn = new Float32Array(n); for (let i = 0; i < n; i++) { const d = f(g[i] + f(w[i] * wd)); const vv = f(f(v[i] * mu) + d); vn[i] = vv; wn[i] = w[i] - f(vv * lr); } v = vn; });
time('alloc only', () => { const wn = new Float32Array(n), vn = new Float32Array(n); wn[5] = vn[7]; });
