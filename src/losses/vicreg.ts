// VICReg (Bardes, Ponce & LeCun, 2022): three terms on the two views' embeddings,
// no negatives, no predictor, no normalization of the embeddings.
//   invariance: the mean squared difference of the views' embeddings (over every element);
//   variance:   a hinge keeping each dimension's standard deviation over the batch
//               at 1 or more (what prevents collapse), mean over dimensions;
//   covariance: the squared off-diagonal covariances over D (decorrelation).
// loss = sim * inv + std * (var(z1) + var(z2)) / 2 + cov * (cov(z1) + cov(z2)),
// with the paper's weights 25, 25, 1; unbiased (N - 1) statistics and eps 1e-4,
// the variance term averaged and the covariance term summed over the views, as
// the official code (facebookresearch/vicreg) does.
import * as tf from '@tensorflow/tfjs';

export interface VicRegWeights { sim: number; std: number; cov: number }
export interface VicRegTerms { invariance: tf.Scalar; variance: tf.Scalar; covariance: tf.Scalar }

export const VICREG_PAPER_WEIGHTS: VicRegWeights = { sim: 25, std: 25, cov: 1 };
const EPS = 1e-4;

/** The unweighted terms (variance averaged, covariance summed over the two views). */
export function vicregTerms(z1: tf.Tensor2D, z2: tf.Tensor2D): VicRegTerms {
  if (z1.shape[0] !== z2.shape[0] || z1.shape[1] !== z2.shape[1]) throw new Error(`vicregLoss: views [${z1.shape}] vs [${z2.shape}]`);
  if (z1.shape[0] < 2) throw new Error('vicregLoss: needs at least 2 images a batch (it takes variances over the batch)');
  return tf.tidy(() => {
    const [n, d] = z1.shape;
    const invariance = tf.mean(tf.square(tf.sub(z1, z2))) as tf.Scalar;
    const offDiag = tf.sub(1, tf.eye(d));
    const stats = (z: tf.Tensor2D) => {
      const centred = tf.sub(z, tf.mean(z, 0));
      const cov = tf.div(tf.matMul(centred, centred, true, false), n - 1) as tf.Tensor2D;
      // The diagonal of the covariance is each dimension's (unbiased) variance.
      const std = tf.sqrt(tf.add(tf.sum(tf.mul(tf.square(centred), 1 / (n - 1)), 0), EPS));
      return {
        variance: tf.mean(tf.relu(tf.sub(1, std))),
        covariance: tf.div(tf.sum(tf.square(tf.mul(cov, offDiag))), d),
      };
    };
    const a = stats(z1);
    const b = stats(z2);
    return {
      invariance,
      variance: tf.div(tf.add(a.variance, b.variance), 2) as tf.Scalar,
      covariance: tf.add(a.covariance, b.covariance) as tf.Scalar,
    };
  });
}

/** The weighted sum of the terms. */
export function weightVicreg(t: VicRegTerms, w: VicRegWeights): tf.Scalar {
  return tf.tidy(() => tf.addN([tf.mul(t.invariance, w.sim), tf.mul(t.variance, w.std), tf.mul(t.covariance, w.cov)]) as tf.Scalar);
}

/** The weighted VICReg loss. */
export function vicregLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, w: VicRegWeights = VICREG_PAPER_WEIGHTS): tf.Scalar {
  return tf.tidy(() => weightVicreg(vicregTerms(z1, z2), w));
}
