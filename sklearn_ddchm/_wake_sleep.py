"""The DDC wake-sleep algorithm (Vertes & Sahani, 2018) as functions of arrays.

Notation of the paper -> names here:

- ``T_l(z_l)``: encoding features of latent layer ``l`` (``features``),
  ``K_l`` of them, with a constant column appended (``augment``).
- ``r_l(x)``: DDC posterior mean parameters from the recognition model
  (``posterior_means``), Eq. 2 and 8.
- ``phi_l``: recognition coefficients (``recognition_coefs``), Eq. 7.
- ``alpha_l, beta_l``: gradient approximators (Eq. 11, 26, 31-35). They are
  never formed: for ridge regression on the sleep samples,
  ``alpha r = F_s^T T_s (T_s^T T_s + Lambda)^{-1} r``, so every DDC expectation
  is a weighted sum over the sleep samples with weights
  ``w(x) = T_s (T_s^T T_s + Lambda)^{-1} r(x)`` (``ddc_weights``), contracted
  directly with the per-sample gradients.

The constant column of ``T`` is not penalised, so the weights of every datum
sum to one exactly: the DDC expectation of a constant is that constant.
"""

from __future__ import annotations

from .utils._array_api import device as _device
from .utils._array_api import get_namespace, relu, solve_spd


def augment(F):
    """``[F, 1]``: features with a constant column appended, shape (n, K + 1)."""
    xp = get_namespace(F)
    ones = xp.ones((F.shape[0], 1), dtype=F.dtype, device=_device(F))
    return xp.concat([F, ones], axis=1)


def ridge_penalty(A, ridge):
    """Penalty ``lambda = ridge * trace(F^T F) / K`` on all but the constant column.

    ``A = [F, 1]^T [F, 1]``. A penalty relative to the features' scale carries
    over between problem sizes and feature types (sigmoid vs linear encodings),
    and between fresh and accumulated statistics. Returns the diagonal to add,
    shape (K + 1,).
    """
    xp = get_namespace(A)
    diag = xp.linalg.diagonal(A)
    k = diag.shape[0] - 1
    lam = ridge * xp.sum(diag[:k]) / max(k, 1)
    # tiny floor so that an all-zero feature matrix still gives a solvable system
    lam = xp.maximum(lam, xp.asarray(1e-12, dtype=A.dtype, device=_device(A)))
    return xp.concat(
        [
            xp.ones(k, dtype=A.dtype, device=_device(A)) * lam,
            xp.zeros(1, dtype=A.dtype, device=_device(A)),
        ]
    )


def regularised(A, ridge):
    """``A + diag(lambda, ..., lambda, 0)``, see :func:`ridge_penalty`."""
    return A + _diag(ridge_penalty(A, ridge))


def gram(F_aug, ridge):
    """Regularised Gram matrix ``F^T F + diag(lambda, ..., lambda, 0)``."""
    return regularised(F_aug.T @ F_aug, ridge)


def _diag(d):
    xp = get_namespace(d)
    return xp.eye(d.shape[0], dtype=d.dtype, device=_device(d)) * d[None, :]


def ridge_fit(F_aug, targets, ridge):
    """Ridge regression coefficients of ``targets`` on ``F_aug`` (Eq. 7, 11).

    Parameters
    ----------
    F_aug : array of shape (n_samples, K + 1)
        Design with the constant column last (not penalised).
    targets : array of shape (n_samples, n_targets)
    ridge : float
        Relative penalty, see :func:`ridge_penalty`.

    Returns
    -------
    coefs : array of shape (K + 1, n_targets)
    """
    return solve_spd(gram(F_aug, ridge), F_aug.T @ targets)


def hidden_features(X, weights, bias, input_mean, input_scale):
    """h(x) = [W (x - mean) / scale + b]_+ (Eq. 8, with standardised inputs)."""
    return relu((X - input_mean) / input_scale @ weights.T + bias)


def posterior_means(H, recognition_coefs):
    """r_1(x) = phi_1 [h(x), 1]; r_l(x) = phi_l [r_{l-1}(x), 1] (Eq. 8).

    Returns the list ``[r_1, ..., r_L]``, each (n_samples, K_l).
    """
    out = []
    inputs = H
    for coefs in recognition_coefs:
        r = augment(inputs) @ coefs
        out.append(r)
        inputs = r
    return out


def fit_recognition(
    H_sleep, sleep_features, ridge, stats=None, decay=0.0, sampled_design=None
):
    """Recognition coefficients ``phi_l`` from the sleep samples (Eq. 7, 8).

    ``phi_1`` regresses ``T_1(z_1^s)`` on ``[h(x^s), 1]``; higher layers
    regress ``T_l(z_l^s)`` on the predicted ``[r_{l-1}(x^s), 1]`` as in the
    paper's Eq. 8, so that ``r_l(x)`` approximates ``E[T_l(z_l) | x]``
    directly.

    With ``sampled_design = (features_aug, grams)`` (the augmented sleep
    features and their regularised Gram matrices, :func:`gram`, which the
    gradient approximators need anyway), higher layers instead regress
    ``T_l(z_l^s)`` on the *sampled* ``[T_{l-1}(z_{l-1}^s), 1]``; applied to
    ``r_{l-1}(x)`` the map is consistent on a chain model, since
    ``E[T_l | x] = E[E[T_l | z_{l-1}] | x]``, and it reuses the Gram matrix
    the gradient approximators need anyway.

    With ``decay > 0`` the normal equations are accumulated over iterations
    with forgetting (recursive least squares): ``A <- decay * A + F^T F``,
    ``B <- decay * B + F^T T``, an effective ``n_sleep / (1 - decay)``
    samples while the model moves slowly (the first layer only when
    ``sampled_design`` is given).

    Returns
    -------
    coefs : list of arrays of shape (n_inputs + 1, K_l)
    stats : list of ``(A, B)`` to pass back as ``stats`` next iteration
    """
    coefs, new_stats = [], []
    inputs = H_sleep
    for l, T in enumerate(sleep_features):
        if sampled_design is not None and l > 0:
            features_aug, grams = sampled_design
            coefs.append(solve_spd(grams[l - 1], features_aug[l - 1].T @ T))
            continue
        F = augment(inputs)
        A, B = F.T @ F, F.T @ T
        if stats is not None and decay > 0:
            A = decay * stats[l][0] + A
            B = decay * stats[l][1] + B
        phi = solve_spd(regularised(A, ridge), B)
        coefs.append(phi)
        new_stats.append((A, B))
        if l + 1 < len(sleep_features):  # the next layer's design
            inputs = F @ phi
    return coefs, new_stats


def ddc_weights(T_sleep_aug, G, R_aug):
    """Weights ``w = T_s G^{-1} r`` turning DDC means into expectations.

    ``E_q[f(z) | x] ~ sum_s w_s(x) f(z^s)`` equals ``alpha r(x)`` for the
    ridge coefficients ``alpha`` of ``f`` on the sleep features (Eq. 5, 12).

    Parameters
    ----------
    T_sleep_aug : array of shape (n_sleep, K + 1)
    G : array of shape (K + 1, K + 1)
        :func:`gram` of ``T_sleep_aug``.
    R_aug : array of shape (n, K + 1) or (K + 1,)
        Augmented DDC means ``[r(x), 1]`` (one row per datum, or one vector).

    Returns
    -------
    weights : array of shape (n, n_sleep) or (n_sleep,)
    """
    if R_aug.ndim == 1:
        return T_sleep_aug @ solve_spd(G, R_aug)
    return (T_sleep_aug @ solve_spd(G, R_aug.T)).T


def observation_gradient(layer, X, z1_sleep, W1):
    """Wake-phase gradient of the observation layer, batch mean (Eq. 19, 36 first line).

    ``S_0(x)^T alpha_0 r_1(x) - beta_1 r_1(x)`` with both approximators
    regressed on ``T(z_1)``: in weight form
    ``grad_natural(z_1^s, W^T S_0(X) / B) - grad_log_normalizer(z_1^s, mean_b W)``.

    Parameters
    ----------
    layer : Layer (exponential family)
    X : array of shape (B, n_features)
    z1_sleep : array of shape (n_sleep, D_1)
    W1 : array of shape (B, n_sleep)
        Per-datum DDC weights of layer 1.
    """
    xp = get_namespace(X)
    n = X.shape[0]
    coef = (W1.T @ layer.sufficient_statistics(X)) / n
    g_nat = layer.grad_natural(z1_sleep, coef)
    g_phi = layer.grad_log_normalizer(z1_sleep, xp.mean(W1, axis=0))
    return {k: g_nat[k] - g_phi[k] for k in g_nat}


def observation_gradient_dense(layer, X, z1_sleep, W1):
    """The same gradient summed over all (datum, sleep sample) pairs.

    ``mean_b sum_s W1[b, s] grad log p(x_b | z_1^s)``: the definition the
    contracted :func:`observation_gradient` must equal (the tests compare
    them). It costs ``B * n_sleep`` gradient evaluations.
    """
    xp = get_namespace(X)
    B, S = W1.shape
    X_rep = xp.reshape(xp.broadcast_to(X[:, None, :], (B, S, X.shape[1])), (B * S, -1))
    Z_rep = xp.reshape(
        xp.broadcast_to(z1_sleep[None, :, :], (B, S, z1_sleep.shape[1])), (B * S, -1)
    )
    g = layer.grad_params(X_rep, Z_rep, xp.reshape(W1, (B * S,)))
    return {k: v / B for k, v in g.items()}


def latent_gradient(layer, child, parent, child_weights, parent_weights, split="paper"):
    """Wake-phase gradient of ``p(z_l | z_{l+1})`` (Eq. 20, 26-33, 36).

    ``split="paper"``: the term ``S_l(z_l)^T grad g`` is regressed on
    ``T(z_l)`` (alpha_l) and the log-normaliser term on ``T(z_{l+1})``
    (beta_{l+1}); in weight form
    ``sum_s wc_s grad log p(z_l^s | z_{l+1}^s)
    + sum_s (wc_s - wp_s) grad Phi(z_{l+1}^s)``.
    ``split="child"``: the whole gradient regressed on ``T(z_l)``, also
    consistent because ``q(z_l, z_{l+1} | x) = p(z_{l+1} | z_l) q(z_l | x)``.

    ``child_weights``/``parent_weights``: batch-mean DDC weights of the child
    and parent layers over the sleep samples, shape (n_sleep,).
    """
    grads = layer.grad_params(child, parent, child_weights)
    if split == "paper":
        g_phi = layer.grad_log_normalizer(parent, child_weights - parent_weights)
        grads = {k: grads[k] + g_phi[k] for k in grads}
    return grads


def prior_gradient(prior, z_top, weights):
    """``alpha_L r_L - grad Phi(theta_L)`` (Eq. 21, 34).

    In weight form ``sum_s w_s grad log p(z_L^s)``.
    """
    return prior.grad_params(z_top, None, weights)


def expected_log_joint(model, X, sleep, W1, mean_weights):
    """DDC estimate of ``mean_b E_q[log p(x_b, z)]`` (the free energy without entropy).

    The observation term ``sum_s W1[b, s] log p(x_b | z_1^s)`` is computed
    through the exponential-family form ``eta(z)^T S(x) - Phi(z) + log h(x)``
    as products, not over all pairs.
    """
    xp = get_namespace(X)
    obs = model.layers[0]
    z1 = sleep[1]
    # sum_s W1[b,s] log p(x_b | z_s) with log p = eta^T S - Phi + log h, sum_s W = 1
    eta_w = W1 @ obs.natural_parameters(z1)
    term = xp.mean(xp.sum(eta_w * obs.sufficient_statistics(X), axis=1))
    term = term - xp.sum(mean_weights[0] * obs.log_normalizer(z1))
    term = term + xp.mean(obs.log_base_measure(X))
    L = model.n_latent_layers
    for l in range(1, L + 1):
        parent = sleep[l + 1] if l < L else None
        lp = model.layers[l].log_prob(sleep[l], parent)
        term = term + xp.sum(mean_weights[l - 1] * lp)
    return term
