"""A vectorisable float64 ``exp`` for the logit kernel (pure numba, no I/O).

The logit scores spend almost all their time in ``exp``: a libm call per element that LLVM cannot
vectorise (numba's pip build has no SVML). Softmax only ever exponentiates *shifted* logits
(``logit - row max <= 0``), so this version covers ``x <= 0``, which keeps it short:

* Cody-Waite range reduction ``x = n ln2 + r`` with ``|r| <= ln2 / 2``, ``ln2`` split in a high
  part exact in 32 bits and a low part, so ``n * ln2_hi`` is exact for every ``n`` reached here;
* the degree-13 Taylor polynomial of ``exp(r)`` (truncation error below ``2e-18`` relative, under
  double rounding);
* ``2**n`` built from its bits: adding ``1.5 * 2**52`` rounds ``x log2(e)`` to the integer ``n``
  held in the low mantissa bits, which become the exponent field of the scale.

Below ``EXP_MIN`` (and for ``-inf``) the result is 0: ``exp(-708)`` is ``3e-308``, and every use
here adds it to a sum that holds ``exp(0) = 1``. Measured against ``np.exp``: at most 2 ulp
(``tests/agent/scoring/test_exp.py``). Every step is branch-free, so the loop vectorises.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numba import njit
from numpy.typing import NDArray

#: below this the result is returned as 0 (exp(-708) ~ 3e-308, the smallest normals are near)
EXP_MIN: Final = -708.0
_LOG2E: Final = 1.4426950408889634
_LN2_HI: Final = 6.93147180369123816490e-01  # ln 2 with its low 32 bits zero: n * hi is exact
_LN2_LO: Final = 1.90821492927058770002e-10
_ROUND: Final = 6755399441055744.0  # 1.5 * 2**52: t + _ROUND - _ROUND = t rounded to an integer
_MANTISSA: Final = (1 << 52) - 1
_HALF_MANTISSA: Final = 1 << 51
_BIAS: Final = 1023
# 1 / k! for k = 2..13, the Taylor coefficients of exp
_C2, _C3, _C4, _C5 = 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120
_C6, _C7, _C8, _C9 = 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880
_C10, _C11 = 1.0 / 3628800, 1.0 / 39916800
_C12, _C13 = 1.0 / 479001600, 1.0 / 6227020800


@njit(cache=True)
def exp_nonpositive_kernel(
    x: NDArray[np.float64], out: NDArray[np.float64]
) -> None:  # pragma: no cover - numba
    """``out[i] = exp(x[i])`` for 1-D contiguous ``x <= 0`` (``-inf`` gives 0); within 2 ulp.

    ``x > 0`` is outside the contract (the result is wrong, not undefined behaviour); NaN gives 0,
    the adapters refuse NaN before it gets here.
    """
    size = x.shape[0]
    t = np.empty(size)
    for i in range(size):
        v = x[i] if x[i] > EXP_MIN else EXP_MIN  # -inf and NaN fail the test: clamped
        t[i] = v * _LOG2E + _ROUND
    n_bits = t.view(np.int64)
    scale_bits = np.empty(size, dtype=np.int64)
    for i in range(size):
        v = x[i] if x[i] > EXP_MIN else EXP_MIN
        n = t[i] - _ROUND
        r = (v - n * _LN2_HI) - n * _LN2_LO
        p = _C13
        p = p * r + _C12
        p = p * r + _C11
        p = p * r + _C10
        p = p * r + _C9
        p = p * r + _C8
        p = p * r + _C7
        p = p * r + _C6
        p = p * r + _C5
        p = p * r + _C4
        p = p * r + _C3
        p = p * r + _C2
        p = p * r + 1.0
        out[i] = p * r + 1.0
        exponent = (n_bits[i] & _MANTISSA) - _HALF_MANTISSA + _BIAS
        scale_bits[i] = exponent << 52
    scale = scale_bits.view(np.float64)
    for i in range(size):
        out[i] = out[i] * scale[i] if x[i] > EXP_MIN else 0.0
