"""Creating an instance on the fake Vast API: the documented input limits, both env forms,
runtype combinations, launch semantics and cancel_unavail (helpers in test_fake_vast.py)."""

from __future__ import annotations

import pytest

from tests.fakes.fake_vast_launch import VAST_ENTRYPOINT
from tests.fakes.fake_vast_server import FakeVastServer
from tests.fakes.test_fake_vast import ENTRYPOINT, IMAGE, KEY, create, pause

# -- create: input validation and launch semantics -----------------------------------------------

LONG = "v" * 257


@pytest.mark.parametrize(
    ("body", "cited"),
    [
        ({"env": {"HF_TOKEN": LONG}}, "env.max_length"),
        ({"env": f"-e HF_TOKEN={LONG} -p 8000:8000"}, "env.max_length"),
        ({"env": {f"K{i}": "v" * 200 for i in range(200)}}, "env.max_total_length"),
        ({"runtype": "args", "args": ["-c", "x" * 3000], "onstart": "y" * 1100}, "args.max_len"),
        ({"disk": 4}, "disk.min"),
        ({"runtype": "ssh_tunnel"}, "runtype enum"),
        ({"label": LONG}, "label.max_length"),
        ({"image": None}, "required: image"),
        ({"price": 200.0}, "x-input-validation price"),
    ],
)
def test_create_refuses_what_the_docs_refuse(body, cited):
    with FakeVastServer(KEY, time_scale=0.01) as vast:
        offer = vast.add_offer(1, "RTX 3090", 0.2)
        answer = create(vast, offer, **body)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_args"
        (violation,) = vast.violations
        assert "create_instance.yaml" in violation and cited in violation
        assert vast.labels() == []


def test_create_takes_both_documented_env_forms_and_runtype_combinations():
    with FakeVastServer(KEY, time_scale=0.001) as vast:
        offers = [vast.add_offer(i, "RTX 3090", 0.2) for i in range(2)]
        flags = create(vast, offers[0], env="-e K=V -e L=a=b -p 8000:8000", runtype="ssh_proxy")
        pause(vast, 4.5)
        combined = create(vast, offers[1], runtype="jupyter_proxy ssh_proxy", env={"K": "V"})
        assert flags.status_code == combined.status_code == 200
        made = flags.json()["new_contract"]
        assert vast.env_of(made) == {"K": "V", "L": "a=b", "-p 8000:8000": "1"}
        assert vast.violations == []


def test_launch_semantics_follow_the_runtype():
    with FakeVastServer(KEY, time_scale=0.001) as vast:
        vast.register_image(IMAGE, entrypoint=ENTRYPOINT, cmd=["--help"])
        bodies = {
            "args keeps the entrypoint": {"runtype": "args", "args": ["--x", "1"]},
            "onstart overrides it": {"runtype": "args", "args": ["-c", "hi"], "onstart": "bash"},
            "ssh replaces it": {"runtype": "ssh_direct", "onstart": "exec /w", "args": ["no"]},
            "args by default": {"args_str": "--y 'two words'"},
            "ssh by default": {"onstart": "echo up"},
            "unregistered image": {"image": "other:1", "runtype": "args"},
        }
        launches = {}
        for name, body in bodies.items():
            offer = vast.add_offer(len(launches), "RTX 3090", 0.2)
            answer = create(vast, offer, **body)
            launches[name] = vast.launches[answer.json()["new_contract"]]
            pause(vast, 4.5)
        keep, override, ssh = (launches[n] for n in list(bodies)[:3])
        assert keep.argv == [*ENTRYPOINT, "--x", "1"] and not keep.vast_entrypoint
        assert override.argv == ["bash", "-c", "hi"] and override.onstart is None
        assert ssh.argv == VAST_ENTRYPOINT and ssh.vast_entrypoint and ssh.onstart == "exec /w"
        assert launches["args by default"].runtype == "args"
        assert launches["args by default"].argv == [*ENTRYPOINT, "--y", "two words"]
        assert launches["ssh by default"].runtype == "ssh"
        assert launches["ssh by default"].onstart == "echo up"
        assert launches["unregistered image"].argv == ["<image entrypoint>", "<image cmd>"]
        assert vast.violations == []


def test_an_offer_that_cannot_start_is_gone_or_rented_stopped_as_cancel_unavail_says():
    with FakeVastServer(KEY, time_scale=0.001) as vast:
        offer = vast.add_offer(1, "RTX 3090", 0.2)
        vast.unschedulable.add(offer)
        gone = create(vast, offer)  # on demand, running: cancel_unavail defaults to true
        assert gone.status_code == 410 and "no_such_ask" in gone.json()["msg"]
        pause(vast, 4.5)
        kept = create(vast, offer, cancel_unavail=False).json()["new_contract"]
        assert vast.by_label(None)[0]["id"] == kept
        assert vast.by_label(None)[0]["actual_status"] == "stopped"
