"""An oversized frame's id is read from its start only: decoding all of a 15 MB frame of
small values just to label its error took the event loop for a second."""

from __future__ import annotations

import pytest

from choreograph.errors import ProtocolError
from choreograph.wire import sync


def test_the_id_is_found_without_reading_the_rest_of_the_frame():
    # The rest is not even JSON: only the start was read.
    assert sync.peek_request_id('{"id":"big","publish":{"payload":[[],[],[') == "big"
    assert sync.peek_request_id(b' { "id" : "a\\"b\\u00e9", "publish"') == 'a"b\u00e9'


def test_an_id_that_is_not_the_first_member_or_not_in_the_start_is_not_found():
    assert sync.peek_request_id('{"publish":{"topic":"t"},"id":"late"}') is None
    assert sync.peek_request_id('{"id":"' + "x" * sync.PEEK_CHARS + '"}') is None
    assert sync.peek_request_id('{"id":""}') is None
    assert sync.peek_request_id('{"id":"bad \\q escape"}') is None


def test_an_oversized_frame_of_costly_json_is_refused_with_its_id():
    frame = '{"id":"big","publish":{"topic":"t","payload":[[]' + ",[]" * 400_000 + "]}}"
    with pytest.raises(ProtocolError, match="exceeds") as refused:
        sync.decode_request(frame, max_bytes=1000)
    assert refused.value.request_id == "big"
