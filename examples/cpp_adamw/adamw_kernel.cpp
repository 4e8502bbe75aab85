// A fused Adam+L2 / AdamW step for contiguous float32 or float64 CPU tensors, in place on
// param, exp_avg and exp_avg_sq, with the step count and hyperparameters as arguments (the
// interface real fused kernels have). Compute precision: the tensor's own dtype.
//
// Build with -DADAMSPEC_BUG_EPS_INSIDE_ROOT to get a realistic bug: epsilon added inside the
// square root, sqrt(v_hat + eps), instead of sqrt(v_hat) + eps (SPEC AD-5, VAR-4).
#include <torch/extension.h>

#include <cmath>

template <typename T>
static void adam_kernel(T* p, const T* g, T* m, T* v, int64_t n, int64_t step, double lr, double beta1,
                        double beta2, double eps, double weight_decay, bool decoupled, bool maximize) {
  // Scalars derived once per call in double, then held in the compute type.
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const T step_size = static_cast<T>(lr / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
  const T one_minus_b1 = static_cast<T>(1.0 - beta1), one_minus_b2 = static_cast<T>(1.0 - beta2);
  const T decay = static_cast<T>(1.0 - lr * weight_decay);
  const T wd = static_cast<T>(weight_decay), e = static_cast<T>(eps);
  const bool has_wd = weight_decay != 0.0;
  for (int64_t i = 0; i < n; ++i) {
    T gi = maximize ? -g[i] : g[i];  // the gradient itself is never written
    T pi = p[i];
    if (has_wd && !decoupled) gi = gi + wd * pi;  // coupled L2
    if (has_wd && decoupled) pi = pi * decay;     // decoupled decay on theta_{t-1}
    const T mi = b1 * m[i] + one_minus_b1 * gi;
    const T vi = b2 * v[i] + one_minus_b2 * gi * gi;
#ifdef ADAMSPEC_BUG_EPS_INSIDE_ROOT
    const T denom = std::sqrt(vi / static_cast<T>(bc2) + e);
#else
    const T denom = std::sqrt(vi) / bc2_sqrt + e;
#endif
    p[i] = pi - step_size * (mi / denom);
    m[i] = mi;
    v[i] = vi;
  }
}

void adam_step(torch::Tensor param, torch::Tensor grad, torch::Tensor exp_avg, torch::Tensor exp_avg_sq,
               int64_t step, double lr, double beta1, double beta2, double eps, double weight_decay,
               bool decoupled, bool maximize) {
  for (const auto& t : {param, grad, exp_avg, exp_avg_sq}) {
    TORCH_CHECK(t.device().is_cpu() && t.is_contiguous(), "adam_step needs contiguous CPU tensors");
    TORCH_CHECK(t.scalar_type() == param.scalar_type() && t.numel() == param.numel(),
                "adam_step: tensors must share dtype and size");
  }
  TORCH_CHECK(step >= 1, "adam_step: step must be >= 1");
  AT_DISPATCH_FLOATING_TYPES(param.scalar_type(), "adam_step", [&] {
    adam_kernel<scalar_t>(param.data_ptr<scalar_t>(), grad.data_ptr<scalar_t>(), exp_avg.data_ptr<scalar_t>(),
                          exp_avg_sq.data_ptr<scalar_t>(), param.numel(), step, lr, beta1, beta2, eps,
                          weight_decay, decoupled, maximize);
  });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("adam_step", &adam_step, "fused Adam+L2 / AdamW step, in place");
}
