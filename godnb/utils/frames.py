"""pandas DataFrames of godnb's tables, with pandas optional (``godnb[pandas]``).

Every ``to_pandas()`` goes through :func:`make_frame`: pandas is imported there, on first
use, and its absence is an :class:`ImportError` that says how to install it. A column
names its dtype, so an empty table has the same columns and dtypes as a full one.

Dtypes: ``"string"`` (pandas' nullable strings, ``<NA>`` for missing), ``"int64"``,
``"Int64"`` (nullable), ``"float64"`` (NaN for missing), ``"datetime64[ns, UTC]"``, or
:class:`Categories` for a column of known values (a status).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["INSTALL_HINT", "Categories", "import_pandas", "make_frame"]

INSTALL_HINT = 'pip install "godnb[pandas]"'


@dataclass(frozen=True)
class Categories:
    """A categorical column's dtype: these values, in this order."""

    values: tuple[str, ...]


def import_pandas(what: str) -> Any:
    """The pandas module; ImportError naming ``what`` and the install command without it.

    Example:
        >>> import_pandas("eng.to_pandas()").__name__   # doctest: +SKIP
        'pandas'
    """
    try:
        import pandas
    except ImportError as e:
        raise ImportError(f"{what} needs pandas, which is not installed: {INSTALL_HINT}") \
            from e
    return pandas


def make_frame(what: str, columns: Sequence[tuple[str, str | Categories]],
               rows: Iterable[Sequence[Any]]) -> Any:
    """A DataFrame of ``rows`` (tuples in the order of ``columns``) with those dtypes.

    Example:
        >>> df = make_frame("t", [("task", "string"), ("n", "int64")], [("fit", 2)])
        >>> list(df.columns), str(df["n"].dtype)        # doctest: +SKIP
        (['task', 'n'], 'int64')
    """
    pd = import_pandas(what)
    values = list(zip(*rows, strict=True)) or [() for _ in columns]
    data = {name: pd.Series(list(column), dtype=_dtype(pd, dtype))
            for (name, dtype), column in zip(columns, values, strict=True)}
    return pd.DataFrame(data, columns=[name for name, _ in columns])


def _dtype(pd: Any, dtype: str | Categories) -> Any:
    if isinstance(dtype, Categories):
        return pd.CategoricalDtype(list(dtype.values))
    return dtype
