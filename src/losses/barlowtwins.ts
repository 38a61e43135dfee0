// Barlow Twins (Zbontar et al., 2021): make the cross-correlation matrix of the
// two views' embeddings, standardized over the batch, the identity. The diagonal
// term makes each dimension invariant to the augmentation; the off-diagonal term,
// weighted by lambda, decorrelates the dimensions, which is what keeps the
// embedding from collapsing without negatives.
//   C = z1_std^T z2_std / N,  loss = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2
// Standardized as the official code does, with a batch norm without affine
// parameters: biased variance, eps 1e-5.
import * as tf from '@tensorflow/tfjs';

const EPS = 1e-5;

/** Each column to zero mean and unit (biased) variance over the batch. */
export function standardizeColumns(z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(z, 0);
    return tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, EPS))) as tf.Tensor2D;
  });
}

/** The paper's two terms: invariance sum_i (1 - C_ii)^2 and redundancy sum_{i != j} C_ij^2 (unweighted). */
export interface BarlowTwinsTerms { invariance: tf.Scalar; redundancy: tf.Scalar }

export function barlowTwinsTerms(z1: tf.Tensor2D, z2: tf.Tensor2D): BarlowTwinsTerms {
  if (z1.shape[0] !== z2.shape[0] || z1.shape[1] !== z2.shape[1]) throw new Error(`barlowTwinsLoss: views [${z1.shape}] vs [${z2.shape}]`);
  if (z1.shape[0] < 2) throw new Error('barlowTwinsLoss: needs at least 2 images a batch (it standardizes over the batch)');
  return tf.tidy(() => {
    const n = z1.shape[0];
    const c = tf.div(tf.matMul(standardizeColumns(z1), standardizeColumns(z2), true, false), n);
    const eye = tf.eye(z1.shape[1]);
    return {
      invariance: tf.sum(tf.square(tf.sub(tf.mul(c, eye), eye))) as tf.Scalar,
      redundancy: tf.sum(tf.square(tf.mul(c, tf.sub(1, eye)))) as tf.Scalar,
    };
  });
}

/** The weighted sum of the terms: invariance + lambda * redundancy. */
export function weightBarlowTwins(t: BarlowTwinsTerms, lambda: number): tf.Scalar {
  return tf.tidy(() => tf.add(t.invariance, tf.mul(t.redundancy, lambda)) as tf.Scalar);
}

/** The Barlow Twins loss for two [N, D] embeddings of the same N images; lambda >= 0. */
export function barlowTwinsLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, lambda: number): tf.Scalar {
  return tf.tidy(() => weightBarlowTwins(barlowTwinsTerms(z1, z2), lambda));
}
