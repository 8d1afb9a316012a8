"""Hypothesis strategies that more than one test module draws from."""

from hypothesis import strategies as st

timestamps = st.builds(
    lambda y, mo, d, h, mi, s, frac, off: (
        f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{off}"
    ),
    st.integers(1971, 2099),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=9).map(lambda d: "." + d)),
    st.sampled_from(["Z", "z", "+00:00", "-07:00", "+05:30", "+14:00"]),
)
"""RFC 3339 date-times as servers write them, up to nanoseconds, in any offset."""
