"""`_core.roots`: which real paths lie under the allowed roots (pure string comparison)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.errors import InvalidInputError
from llminst._core.roots import check_under_roots, is_under


@pytest.mark.parametrize(
    ("path", "root", "under"),
    [
        ("/srv/work", "/srv/work", True),
        ("/srv/work/a/b", "/srv/work", True),
        ("/srv/work/a", "/srv/work/", True),
        ("/srv/workshop", "/srv/work", False),  # whole names, not a string prefix
        ("/srv", "/srv/work", False),
        ("/etc", "/srv/work", False),
        ("/anything", "/", True),
    ],
)
def test_under_a_root_by_whole_names(path: str, root: str, under: bool) -> None:
    assert is_under(path, root) is under


names = st.text(alphabet="abc", min_size=1, max_size=3)


@given(st.lists(names, min_size=1, max_size=4), st.lists(names, max_size=3))
def test_a_root_holds_exactly_its_own_descendants(root: list[str], rest: list[str]) -> None:
    """A path is under a root iff the root's names are a prefix of the path's names."""
    other = ["x" + n for n in root]  # never the root's first name
    root_path = "/" + "/".join(root)
    assert is_under("/" + "/".join(root + rest), root_path)
    assert not is_under("/" + "/".join(other + rest), root_path)
    assert not is_under(root_path + "z", root_path)


def test_no_roots_means_any_directory() -> None:
    check_under_roots("/etc", requested="/etc", roots=None)


def test_empty_roots_refuse_every_directory_and_say_how_to_allow() -> None:
    with pytest.raises(InvalidInputError) as refused:
        check_under_roots("/srv/work", requested="/srv/work", roots=[])
    message = str(refused.value)
    assert refused.value.kind == "invalid_input"
    assert message.startswith("cwd: ") and "'/srv/work'" in message
    assert "[server] allowed_roots" in message and "--allow-root" in message


def test_outside_the_roots_names_the_directory_where_it_leads_and_the_roots() -> None:
    with pytest.raises(InvalidInputError) as refused:
        check_under_roots("/etc", requested="/srv/work/link", roots=["/srv/work", "/tmp/x"])
    message = str(refused.value)
    assert "'/srv/work/link' (which leads to '/etc') is not under" in message
    assert "/srv/work, /tmp/x" in message


def test_inside_a_root_passes() -> None:
    check_under_roots("/srv/work/a", requested="a", roots=["/tmp/x", "/srv/work"])
