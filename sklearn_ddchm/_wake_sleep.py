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
from .utils._array_api import diag, get_namespace, relu, solve_spd


def augment(F):
    """``[F, 1]``: features with a constant column appended, shape (n, K + 1)."""
    xp = get_namespace(F)
    ones = xp.ones((F.shape[0], 1), dtype=F.dtype, device=_device(F))
    return xp.concat([F, ones], axis=1)


def ridge_penalty(A, ridge, centred=True):
    """Ridge penalty on all but the constant column, relative to the features' scale.

    ``A = [F, 1]^T [F, 1]`` for ``n`` samples of ``K`` features. With
    ``centred=True``, ``lambda = ridge * n * mean_k Var(F_k)``: relative to
    the features' variance, the part of their scale a regression with an
    unpenalised intercept uses. With ``centred=False`` (the original rule),
    ``lambda = ridge * trace(F^T F) / K``, relative to their uncentred second
    moment, which for sigmoid features far from 0 is dominated by their mean
    and shrinks the small-variance directions most (29-237x more than the
    centred rule on the paper's synthetic model at a random-start plateau).
    A relative penalty carries over between problem sizes and feature types,
    and between fresh and accumulated statistics. Returns the diagonal to
    add, shape (K + 1,).
    """
    xp = get_namespace(A)
    diag = xp.linalg.diagonal(A)
    k = diag.shape[0] - 1
    second = diag[:k]
    if centred:
        n = A[k, k]
        sums = A[:k, k]
        second = second - sums * sums / xp.maximum(n, xp.ones_like(n))
    lam = ridge * xp.sum(second) / max(k, 1)
    # Floor relative to the uncentred scale (100 machine epsilons of the mean
    # diagonal): features that are all constant (saturated sigmoids) have no
    # variance, and a penalty of zero would leave [F, 1] singular.
    eps = xp.finfo(A.dtype).eps
    floor = 100 * eps * xp.sum(diag[:k]) / max(k, 1) + 1e-12
    lam = xp.maximum(lam, floor)
    return xp.concat(
        [
            xp.ones(k, dtype=A.dtype, device=_device(A)) * lam,
            xp.zeros(1, dtype=A.dtype, device=_device(A)),
        ]
    )


def regularised(A, ridge, centred=True):
    """``A + diag(lambda, ..., lambda, 0)``, see :func:`ridge_penalty`."""
    return A + diag(ridge_penalty(A, ridge, centred))


def gram(F_aug, ridge, centred=True):
    """Regularised Gram matrix ``F^T F + diag(lambda, ..., lambda, 0)``."""
    return regularised(F_aug.T @ F_aug, ridge, centred)


def ridge_fit(F_aug, targets, ridge, centred=True):
    """Ridge regression coefficients of ``targets`` on ``F_aug`` (Eq. 7, 11).

    Parameters
    ----------
    F_aug : array of shape (n_samples, K + 1)
        Design with the constant column last (not penalised).
    targets : array of shape (n_samples, n_targets)
    ridge : float
        Relative penalty, see :func:`ridge_penalty`.
    centred : bool, default=True
        See :func:`ridge_penalty`.

    Returns
    -------
    coefs : array of shape (K + 1, n_targets)
    """
    return solve_spd(gram(F_aug, ridge, centred), F_aug.T @ targets)


#: relative penalties searched by :func:`gcv_ridge`
GCV_GRID = tuple(10.0 ** (k / 4) for k in range(-24, 9))


def gcv_ridge(F, targets, grid=GCV_GRID):
    """The relative ridge penalty minimising generalised cross-validation.

    For the regression of ``targets`` on ``[F, 1]`` (intercept unpenalised)
    with penalty ``lambda = rho * mean_k Var(F_k) * n`` (``rho`` from
    ``grid``; see :func:`ridge_penalty`), the GCV criterion of Golub, Heath
    & Wahba (1979), ``n RSS(lambda) / (n - df(lambda))^2``, summed over the
    standardised targets, is evaluated in closed form from one
    eigendecomposition ``F_c^T F_c = V diag(d) V^T`` of the centred design:
    with ``c = V^T F_c^T Y_c``,
    ``RSS = ||Y_c||^2 - sum_k c_k^2 (d_k + 2 lambda) / (d_k + lambda)^2`` and
    ``df = 1 + sum_k d_k / (d_k + lambda)``.

    Parameters
    ----------
    F : array of shape (n, K)
        Design without the constant column.
    targets : array of shape (n, m)
    grid : sequence of float
        Candidate relative penalties ``rho``.

    Returns
    -------
    rho : float
        The best candidate.
    """
    xp = get_namespace(F)
    n, k = F.shape
    Fc = F - xp.mean(F, axis=0)
    Y = targets - xp.mean(targets, axis=0)
    scale = xp.std(Y, axis=0)
    Y = Y / xp.where(scale > 0, scale, xp.ones_like(scale))
    d, V = xp.linalg.eigh(Fc.T @ Fc)
    d = xp.maximum(d, xp.zeros_like(d))
    c2 = xp.sum((V.T @ (Fc.T @ Y)) ** 2, axis=1)
    total = xp.sum(Y * Y)
    unit = xp.sum(d) / max(k, 1)
    best, best_rho = None, float(grid[0])
    for rho in grid:
        lam = rho * unit
        rss = total - xp.sum(c2 * (d + 2.0 * lam) / (d + lam) ** 2)
        df = 1.0 + xp.sum(d / (d + lam))
        score = float(n * rss / max(float(n - df), 1e-12) ** 2)
        if best is None or score < best:
            best, best_rho = score, float(rho)
    return best_rho


def hidden_features(X, weights, bias, input_mean, input_scale):
    """h(x) = [W (x - mean) / scale + b]_+ (Eq. 8, with standardised inputs)."""
    return relu((X - input_mean) / input_scale @ weights.T + bias)


#: standard deviation of the statistic's columns in ``h``, in units of the
#: hidden units' (see :func:`match_scale`)
STATISTIC_SCALE = 10.0


def match_scale(S, H, factor=STATISTIC_SCALE):
    """Mean and scale that standardise ``S`` to ``factor`` times ``H``'s spread.

    ``(S - mean) / scale`` has zero-mean columns whose standard deviation is
    ``factor`` times the root mean column variance of ``H``. In the design
    ``[H, (S - mean) / scale]`` one relative ridge penalty
    (:func:`ridge_penalty`) then shrinks ``S``'s coefficients ``factor**2``
    times less than ``H``'s, whatever the units of ``S``: with ``factor=10``
    the statistic, on which a linear-Gaussian posterior mean depends
    linearly, is all but unpenalised, while the penalty on the random units,
    relative to the design's mean variance, grows. A constant column keeps
    scale 1 (and a constant ``H`` counts as unit spread).

    Parameters
    ----------
    S : array of shape (n, d)
    H : array of shape (n, k)
    factor : float, default=STATISTIC_SCALE

    Returns
    -------
    mean, scale : arrays of shape (d,)
    """
    xp = get_namespace(S)
    target = xp.sqrt(xp.mean(xp.var(H, axis=0)))
    target = xp.where(target > 0, target, xp.ones_like(target))
    sd = xp.std(S, axis=0)
    return xp.mean(S, axis=0), xp.where(sd > 0, sd, xp.ones_like(sd)) / (
        factor * target
    )


def whitening(S):
    """Centre and PCA whitening matrix of the rows of ``S``.

    ``(S - centre) @ W`` has zero-mean columns with identity covariance
    (PCA whitening; Kessy, Lewin & Strimmer, 2018, "Optimal whitening and
    decorrelation", whose whitening matrix is this ``W``'s transpose):
    ``W = V diag(e)^(-1/2)`` for the eigendecomposition ``V diag(e) V^T`` of
    the sample covariance. Eigenvalues are floored at
    ``100 eps`` times the largest (``eps`` of the dtype, about the rounding
    error of the eigenvalues), so that a direction in which ``S`` does not
    vary (a statistic of rank below its width) is not blown up from rounding
    error to unit variance; it stays at 1% of it or less.

    A ridge penalty relative to the columns' mean variance
    (:func:`ridge_penalty`) treats every direction of whitened columns
    alike. On columns that are only standardised it shrinks the directions
    in which they vary little: on breast cancer's factor model, at the
    maximum-likelihood parameters, the posterior mean regressed on the
    standardised observation statistic ``t(x)`` came out shrunk by a factor
    of 0.74-0.94 per latent (``benchmarks/bench_tabular.py --at-optimum``).

    Parameters
    ----------
    S : array of shape (n, d)

    Returns
    -------
    centre : array of shape (d,)
    W : array of shape (d, d)
    """
    xp = get_namespace(S)
    centre = xp.mean(S, axis=0)
    C = S - centre
    cov = C.T @ C / max(S.shape[0] - 1, 1)
    values, vectors = xp.linalg.eigh(0.5 * (cov + cov.T))
    top = xp.max(values)
    floor = 100 * xp.finfo(S.dtype).eps * top
    # a constant statistic (top == 0) is left as it is: unit scale
    floor = xp.where(top > 0, floor, xp.ones_like(floor))
    values = xp.maximum(values, floor)
    return centre, vectors / xp.sqrt(values)[None, :]


def kernel_features(X, centres, input_mean, input_scale, bandwidth, offset=None):
    """h(x) = exp(-||u - c_j||^2 / (2 bandwidth^2)) - offset_j, u = (x - mean) / scale.

    Gaussian-kernel features centred on standardised inputs ``c_j`` (the
    estimator takes them from each step's sleep samples). A ridge regression
    on them is the subset-of-regressors form of the kernel conditional mean
    embedding (Song et al., 2009; Grunewalder et al., 2012) that Eq. 8's fixed
    random layer approximates with units placed once, independently of where
    the model's samples lie.

    Parameters
    ----------
    X : array of shape (n, n_features)
    centres : array of shape (n_units, n_features)
        Already standardised.
    input_mean, input_scale : arrays of shape (n_features,)
    bandwidth : float
    offset : array of shape (n_units,) or None
        Subtracted from the units (the estimator passes their mean over the
        sleep samples, so that their Gram matrices stay well conditioned).

    Returns
    -------
    H : array of shape (n, n_units), in (0, 1] when ``offset`` is None
    """
    xp = get_namespace(X)
    U = (X - input_mean) / input_scale
    squared = (
        xp.sum(U * U, axis=1)[:, None]
        + xp.sum(centres * centres, axis=1)[None, :]
        - 2.0 * (U @ centres.T)
    )
    # the expansion can round a zero distance slightly below 0
    squared = xp.maximum(squared, xp.zeros_like(squared))
    H = xp.exp(-squared / (2.0 * bandwidth**2))
    return H if offset is None else H - offset


#: designs of the recognition regressions of the layers above the first:
#: "hidden" regresses every layer on ``[h(x), 1]``; "predicted" (the paper's
#: Eq. 8) on the layer below's ``[r_{l-1}(x), 1]``; "sampled" on its sampled
#: ``[T_{l-1}(z_{l-1}), 1]``
RECOGNITION_DESIGNS = ("hidden", "predicted", "sampled")


def posterior_means(H, recognition_coefs, design="predicted"):
    """DDC means ``r_l(x)`` of every latent layer from hidden features ``H`` (Eq. 8).

    ``r_1(x) = phi_1 [h(x), 1]``; for the layers above, ``r_l(x) = phi_l
    [h(x), 1]`` when ``design="hidden"``, else ``r_l(x) = phi_l [r_{l-1}(x),
    1]`` (the paper's chain, also the form of the "sampled" design).

    Returns the list ``[r_1, ..., r_L]``, each (n_samples, K_l).
    """
    if design == "hidden":
        H_aug = augment(H)
        return [H_aug @ coefs for coefs in recognition_coefs]
    out = []
    inputs = H
    for coefs in recognition_coefs:
        r = augment(inputs) @ coefs
        out.append(r)
        inputs = r
    return out


def _same_shapes(old, new):
    """Whether accumulated ``(A, B)`` statistics match fresh ones (``B`` may
    be None)."""
    return all(
        (a is None and b is None)
        or (a is not None and b is not None and a.shape == b.shape)
        for a, b in zip(old, new, strict=True)
    )


def fit_recognition(
    H_sleep,
    sleep_features,
    ridge,
    stats=None,
    decay=0.0,
    sampled_design=None,
    *,
    design="predicted",
    centred=True,
    extra_targets=None,
):
    """Recognition coefficients ``phi_l`` from the sleep samples (Eq. 7, 8).

    ``phi_1`` regresses ``T_1(z_1^s)`` on ``[h(x^s), 1]``. The layers above
    depend on ``design``:

    - ``"predicted"`` (the paper's Eq. 8): ``T_l(z_l^s)`` on the predicted
      ``[r_{l-1}(x^s), 1]``, so that ``r_l(x)`` approximates ``E[T_l(z_l) |
      x]`` through the layer below.
    - ``"hidden"``: ``T_l(z_l^s)`` on ``[h(x^s), 1]`` like the first layer.
      Since ``r_{l-1}`` is itself linear in ``h``, this is the design ``[h(x),
      r_{l-1}(x)]`` (a network between layers, the paper's Section 8) up to
      the penalty; every layer shares one Gram matrix, so one factorisation
      serves them all. On the paper's synthetic model at its true parameters
      the RMSE of ``E[z_2 | x]`` is 0.41 this way against 1.59 through
      ``r_1``.
    - ``"sampled"``, with ``sampled_design = (features_aug, grams)`` (the
      augmented sleep features and their regularised Gram matrices,
      :func:`gram`): ``T_l(z_l^s)`` on the *sampled* ``[T_{l-1}(z_{l-1}^s),
      1]``; applied to ``r_{l-1}(x)`` the map is consistent on a chain model,
      since ``E[T_l | x] = E[E[T_l | z_{l-1}] | x]``, and it reuses the Gram
      matrix the gradient approximators need anyway.

    With ``decay > 0`` the normal equations are accumulated over iterations
    with forgetting (recursive least squares): ``A <- decay * A + F^T F``,
    ``B <- decay * B + F^T T``, an effective ``n_sleep / (1 - decay)``
    samples while the model moves slowly (the first layer only when
    ``sampled_design`` is given).

    ``extra_targets`` (shape (n_sleep, m)) are regressed on ``[h(x^s), 1]``
    with the first layer's system (accumulated with it when ``decay > 0``),
    e.g. the latents themselves for the posterior means behind
    :func:`posterior_covariance`.

    Returns
    -------
    coefs : list of arrays of shape (n_inputs + 1, K_l)
    stats : list of ``(A, B)`` to pass back as ``stats`` next iteration
    extra_coefs : array of shape (n_hidden + 1, m) or None
    hidden_system : tuple of two arrays of shape (n_hidden + 1, n_hidden + 1)
        ``(A, G)``: the Gram matrix of ``[h(x^s), 1]`` the first layer used
        (accumulated when ``decay > 0``) and its regularised form.
    """
    F = augment(H_sleep)
    accumulate = stats is not None and decay > 0
    if design == "hidden":
        xp = get_namespace(F)
        targets = list(sleep_features)
        if extra_targets is not None:
            targets.append(extra_targets)
        A = F.T @ F
        # no targets: only the hidden system is wanted (the embedding)
        B = F.T @ xp.concat(targets, axis=1) if targets else None
        if accumulate and _same_shapes(stats[0], (A, B)):
            A = decay * stats[0][0] + A
            B = None if B is None else decay * stats[0][1] + B
        G = regularised(A, ridge, centred)
        solved = None if B is None else solve_spd(G, B)
        coefs, start = [], 0
        for T in sleep_features:
            coefs.append(solved[:, start : start + T.shape[1]])
            start += T.shape[1]
        extra = None if extra_targets is None else solved[:, start:]
        return coefs, [(A, B)], extra, (A, G)
    coefs, new_stats, extra, hidden_system = [], [], None, None
    inputs = H_sleep
    for l, T in enumerate(sleep_features):
        if sampled_design is not None and l > 0:
            features_aug, grams = sampled_design
            coefs.append(solve_spd(grams[l - 1], features_aug[l - 1].T @ T))
            continue
        F = augment(inputs)
        k = T.shape[1]
        if l == 0 and extra_targets is not None:
            # solved with the first layer's targets, so that accumulated
            # statistics pair an accumulated Gram matrix with accumulated
            # right-hand sides (a fresh one shrank the means towards about
            # 1 - decay of their size)
            xp = get_namespace(F)
            T = xp.concat([T, extra_targets], axis=1)
        A, B = F.T @ F, F.T @ T
        if accumulate and l < len(stats) and _same_shapes(stats[l], (A, B)):
            A = decay * stats[l][0] + A
            B = decay * stats[l][1] + B
        G = regularised(A, ridge, centred)
        phi = solve_spd(G, B)
        if l == 0:
            hidden_system = (A, G)
            if extra_targets is not None:
                extra = phi[:, k:]
        phi = phi[:, :k]
        coefs.append(phi)
        new_stats.append((A, B))
        if l + 1 < len(sleep_features):  # the next layer's design
            inputs = F @ phi
    return coefs, new_stats, extra, hidden_system


def ridge_dof(A, G):
    """Degrees of freedom of a ridge regression and its number of samples.

    For the normal equations ``A = [F, 1]^T [F, 1]`` of ``n`` samples and
    their regularised form ``G`` (:func:`regularised`), the fitted values
    are ``H y`` with the hat matrix ``H = [F, 1] G^{-1} [F, 1]^T``, whose
    trace is ``df = trace(G^{-1} A)`` (Hastie, Tibshirani & Friedman,
    Eq. 3.50). ``n`` is read off the constant column, ``A[-1, -1]`` (an
    effective count when the statistics are accumulated).

    Returns
    -------
    df, n : float
    """
    xp = get_namespace(A)
    df = float(xp.sum(xp.linalg.diagonal(solve_spd(G, A))))
    return df, float(A[-1, -1])


def posterior_covariance(residuals, weights, dof=None):
    """Average posterior covariance of a latent layer from sleep residuals.

    ``C = n / (n - df) * sum_s w_s e_s e_s^T`` with ``e_s = z^s - m(x^s)``
    the residuals of the ridge regression ``m`` of the latents on the
    recognition features at the sleep pairs ``(x^s, z^s)``, ``w`` the
    batch-mean DDC weights (they sum to one) and ``(df, n) = dof`` the
    regression's degrees of freedom and sample count (:func:`ridge_dof`):
    the classical unbiased residual variance ``RSS / (n - df)``, which
    undoes the shrinkage of in-sample residuals by over-fitting. The result
    is projected onto the positive semi-definite cone (negative eigenvalues,
    possible with signed weights, set to zero).

    Since ``E[(z - m(x))(z - m(x))^T | x] = Cov[z | x] + (E[z | x] -
    m(x))(...)^T``, this estimates the posterior covariance without taking a
    difference of large second moments: the DDC estimate ``E_q[z z^T] -
    E_q[z] E_q[z]^T`` of a narrow posterior is one (on a data-started patch
    model it was <= 0 for 28% of the entries the noise variance's gradient
    needs, and the free energy then grows without bound as that variance
    goes to 0).

    Parameters
    ----------
    residuals : array of shape (n_sleep, D)
    weights : array of shape (n_sleep,)
    dof : tuple ``(df, n)`` or None
        None applies no correction (the in-sample residuals as they are).

    Returns
    -------
    cov : array of shape (D, D)
    """
    xp = get_namespace(residuals)
    cov = (residuals * weights[:, None]).T @ residuals
    cov = 0.5 * (cov + cov.T)
    if dof is not None:
        df, n = dof
        cov = cov * (n / max(n - df, 1.0))
    values, vectors = xp.linalg.eigh(cov)
    values = xp.maximum(values, xp.zeros_like(values))
    return (vectors * values[None, :]) @ vectors.T


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


def embedding_weights(H_sleep_aug, G, H_aug):
    """Conditional-mean-embedding weights ``w(x) = [h_s, 1] G^{-1} [h(x), 1]``.

    ``E[f(z) | x] ~ sum_s w_s(x) f(z^s)`` is then the ridge regression of
    ``f(z^s)`` on the recognition features ``[h(x^s), 1]`` of the sleep
    pairs, evaluated at ``x``: the empirical conditional mean embedding of
    ``p(z | x)`` (Grunewalder et al., 2012) with the feature map ``h``. It is
    the DDC weight form (:func:`ddc_weights`) in the limit of infinitely many
    encoding functions that the paper's Section 8 points to: with a
    complete encoding of the sleep samples the encoding projection is the
    identity and only the recognition regression remains.

    Parameters
    ----------
    H_sleep_aug : array of shape (n_sleep, n_hidden + 1)
    G : array of shape (n_hidden + 1, n_hidden + 1)
        The regularised Gram matrix of ``H_sleep_aug``.
    H_aug : array of shape (n, n_hidden + 1) or (n_hidden + 1,)

    Returns
    -------
    weights : array of shape (n, n_sleep) or (n_sleep,)
    """
    return ddc_weights(H_sleep_aug, G, H_aug)


def project_to_simplex(W):
    """Each row of ``W`` projected onto the probability simplex (Euclidean).

    The nearest weights that are >= 0 and sum to one (Duchi et al., 2008,
    Fig. 1): ``max(w - theta, 0)`` with the one ``theta`` that makes the row
    sum to one. DDC weights are signed, so an expectation through them can
    leave the range of the function (a negative variance); through projected
    weights it is a convex combination of the function's values at the sleep
    samples.

    Parameters
    ----------
    W : array of shape (n, n_sleep)

    Returns
    -------
    P : array of shape (n, n_sleep)
    """
    xp = get_namespace(W)
    n_sleep = W.shape[1]
    u = xp.flip(xp.sort(W, axis=1), axis=1)
    css = xp.cumulative_sum(u, axis=1)
    j = xp.arange(1, n_sleep + 1, dtype=W.dtype, device=_device(W))[None, :]
    candidate = (css - 1.0) / j
    # the condition u_j > (css_j - 1) / j holds for a prefix of j = 1..rho
    rho = xp.sum(xp.astype(u > candidate, xp.int64), axis=1, keepdims=True)
    at_rho = xp.astype(j == xp.astype(rho, W.dtype), W.dtype)
    theta = xp.sum(candidate * at_rho, axis=1, keepdims=True)
    return xp.maximum(W - theta, xp.zeros_like(W))


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
    return layer.grad_natural_minus_log_normalizer(z1_sleep, coef, xp.mean(W1, axis=0))


def observation_gradient_moments(layer, X, mean, cov):
    """Wake-phase gradient of an observation layer from posterior moments, batch mean.

    For a layer whose log-density is quadratic in ``z_1`` (a Gaussian with an
    affine mean, ``layer.supports_moments``), Eq. 19's expectation
    ``E_q[grad log p(x | z_1)]`` depends on ``q(z_1 | x)`` only through its
    mean and covariance: ``mean`` (B, D_1), the DDC posterior means
    ``sum_s W1[b, s] z_1^s``, and ``cov`` (D_1, D_1), the batch's posterior
    covariance (:func:`posterior_covariance`). This replaces the
    cancellation-prone weight form (:func:`observation_gradient`) of the
    second moments.
    """
    n = X.shape[0]
    g = layer.expected_grad_params_moments(X, mean, cov)
    return {k: v / n for k, v in g.items()}


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


def expected_log_joint(model, X, sleep, W1, mean_weights, moments=None):
    """DDC estimate of ``mean_b E_q[log p(x_b, z)]`` (the free energy without entropy).

    The observation term ``sum_s W1[b, s] log p(x_b | z_1^s)`` is computed
    through the exponential-family form ``eta(z)^T S(x) - Phi(z) + log h(x)``
    as products, not over all pairs; with ``moments = (mean, cov)`` it is
    the layer's moment form instead (see :func:`observation_gradient_moments`).
    """
    xp = get_namespace(X)
    obs = model.layers[0]
    z1 = sleep[1]
    if moments is not None:
        term = xp.mean(obs.expected_log_prob_moments(X, *moments))
    else:
        # sum_s W1[b,s] log p(x_b | z_s) with log p = eta^T S - Phi + log h
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
