"""Preprocessing built from the columns declared in mlops.yaml (user-owned: edit freely)."""

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def build_preprocessor(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    """Numeric: median impute + scale. Categorical: most-frequent impute + one-hot (unknowns ignored)."""
    numeric_steps = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical_steps = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore"))
    return ColumnTransformer(
        [("numeric", numeric_steps, numeric), ("categorical", categorical_steps, categorical)],
        verbose_feature_names_out=False,
    )
