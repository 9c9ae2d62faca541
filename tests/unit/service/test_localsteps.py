"""The local steps of a user's transport (cb_info): which cb_info values name one,
and what an rpc caller (no shim to run a step) gets instead."""
from bridge.etf import Atom
from bridge.service import options
from bridge.service.localsteps import LOCAL_STEP, connect_step, listen_step, rpc_reply
from bridge.service.options.sockopts import INTERNAL_INET_VALUES

A = Atom


def _parsed(opts):
    return options.parse_connect_options(opts, host="localhost")


def test_gen_tcp_cb_info_is_the_bridge_tcp():
    for cb in [(A("gen_tcp"), A("tcp"), A("tcp_closed"), A("tcp_error")),
               (A("gen_tcp"), A("tcp"), A("tcp_closed"), A("tcp_error"), A("tcp_passive"))]:
        assert options.user_transport(_parsed([(A("cb_info"), cb)]).ssl) is None
    assert options.user_transport(_parsed([]).ssl) is None


def test_a_4_tuple_gets_ssls_passive_tag():
    cb = (A("my_tcp"), A("my_data"), A("my_closed"), A("my_error"))
    assert options.user_transport(_parsed([(A("cb_info"), cb)]).ssl) == cb + (A("my_data_passive"),)
    cb5 = cb + (A("my_passive"),)
    assert options.user_transport(_parsed([(A("cb_info"), cb5)]).ssl) == cb5


def test_steps_carry_the_socket_options_as_ssl_passes_them():
    cb = (A("m"), A("d"), A("c"), A("e"), A("p"))
    parsed = _parsed([(A("cb_info"), cb), (A("nodelay"), True)])
    step = connect_step("h", 1, cb, parsed, [], 5000)
    assert step[0] is LOCAL_STEP and step[1] is A("connect")
    assert step[2][3] == list(parsed.inet_list) and (A("nodelay"), True) in step[2][3]
    lstep = listen_step(0, cb, parsed, [])
    assert lstep[2][2] == list(parsed.inet_list) + list(INTERNAL_INET_VALUES)


def test_rpc_callers_get_a_refusal_by_name():
    cb = (A("m"), A("d"), A("c"), A("e"), A("p"))
    assert rpc_reply(connect_step("h", 1, cb, _parsed([]), [], 5000)) == \
        (A("error"), (A("options"), (A("not_supported_by_pyssl"), A("cb_info"))))
    assert rpc_reply((A("ok"), 1)) == (A("ok"), 1)
