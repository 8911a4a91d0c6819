"""The SEMI-HA paper's own numbers (``seeds/000_c3504549b90f76f9.txt``, Section IV-F), to show beside ours.

They come from real data (MODIS, PRISM, SoilGrids at 1 km, USDA NASS yields, 1,175 Corn Belt counties)
with the paper's model sizes; geoapp's embedded dataset is a simulation at 4 km. The numbers are
therefore *not comparable* with geoapp's results and every table that shows them says so
(:data:`NOT_COMPARABLE`). Figures 5-7 give no numbers in the text, only the relative improvements
copied in :data:`SEMI_HA_OVER_S_HA`.
"""

from __future__ import annotations

__all__ = ["NOT_COMPARABLE", "PAPER_LABELS", "TABLE_I_RMSE", "TABLE_II_R2", "SEMI_HA_OVER_S_HA", "YEARS"]

NOT_COMPARABLE = "paper, real data: not comparable"
"""The label of every table or series that shows the paper's numbers."""

YEARS = (2014, 2015, 2016, 2017, 2018)

PAPER_LABELS: dict[str, str] = {
    "ridge": "LR",
    "rf": "RF",
    "mlp": "MLP",
    "lstm-gp": "LSTM+GP",
    "cnn-gp": "CNN+GP",
    "c3d": "C3D",
    "cnn-lstm": "CNN-LSTM",
    "s-ha": "S-HA",
    "semi-sa": "SEMI-SA",
    "semi-ha": "SEMI-HA",
}
"""geoapp's model names and the paper's row labels."""

# Table I: RMSE (bu/acre) with N_y = 10; per test year 2014..2018, then the paper's average.
TABLE_I_RMSE: dict[str, tuple[float, ...]] = {
    "ridge": (6.465, 7.754, 7.589, 6.839, 8.163, 7.362),
    "rf": (5.332, 6.69, 8.134, 6.352, 7.692, 6.840),
    "mlp": (5.236, 6.076, 6.752, 6.025, 8.242, 6.466),
    "lstm-gp": (5.013, 5.553, 6.761, 5.134, 5.522, 5.597),
    "cnn-gp": (4.824, 5.540, 8.136, 5.706, 6.235, 6.088),
    "c3d": (4.969, 5.891, 5.462, 5.736, 5.558, 5.523),
    "cnn-lstm": (4.948, 5.698, 6.688, 5.596, 5.83, 5.752),
    "s-ha": (4.545, 5.453, 4.9, 4.701, 5.467, 5.013),
    "semi-sa": (4.673, 5.251, 4.694, 4.587, 5.47, 4.935),
    "semi-ha": (4.502, 5.19, 4.754, 4.354, 5.363, 4.833),
}
"""The paper's Table I (last value: its Avg column)."""

# Table II: R^2 with N_y = 10; per test year 2014..2018, then the paper's average.
TABLE_II_R2: dict[str, tuple[float, ...]] = {
    "ridge": (0.495, 0.231, 0.002, 0.458, 0.361, 0.309),
    "rf": (0.657, 0.428, -0.15, 0.532, 0.432, 0.380),
    "mlp": (0.669, 0.528, 0.209, 0.579, 0.347, 0.466),
    "lstm-gp": (0.696, 0.605, 0.207, 0.694, 0.707, 0.582),
    "cnn-gp": (0.719, 0.607, -0.148, 0.622, 0.627, 0.485),
    "c3d": (0.7, 0.556, 0.481, 0.618, 0.704, 0.612),
    "cnn-lstm": (0.701, 0.582, 0.224, 0.637, 0.674, 0.564),
    "s-ha": (0.75, 0.619, 0.584, 0.744, 0.714, 0.682),
    "semi-sa": (0.736, 0.646, 0.618, 0.756, 0.712, 0.694),
    "semi-ha": (0.755, 0.655, 0.607, 0.78, 0.724, 0.704),
}
"""The paper's Table II (last value: its Avg column)."""

SEMI_HA_OVER_S_HA: dict[int, tuple[float, float]] = {10: (3.6, 3.2), 7: (4.1, 4.3), 4: (4.5, 7.1)}
"""Per N_y, SEMI-HA's improvement over S-HA in % of RMSE and of R^2, averaged over 2014-2018 (Section IV-F)."""
