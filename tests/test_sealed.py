import pytest

from calcifer.sealed import SealError, seal, unseal

KEY = "k" * 64


def test_sealed_secret_reads_back_and_does_not_contain_the_plaintext():
    stored = seal(KEY, "webhook-secret", "hunter2-very-secret")
    assert "hunter2" not in stored
    assert unseal(KEY, "webhook-secret", stored) == "hunter2-very-secret"


def test_another_instance_key_cannot_open_it():
    stored = seal(KEY, "webhook-secret", "s")
    with pytest.raises(SealError, match="cannot be decrypted"):
        unseal("other" * 10, "webhook-secret", stored)


def test_a_value_sealed_for_one_purpose_cannot_be_opened_as_another():
    stored = seal(KEY, "webhook-secret", "s")
    with pytest.raises(SealError):
        unseal(KEY, "remote-token", stored)


def test_an_altered_value_is_refused():
    stored = seal(KEY, "remote-token", "s")
    altered = stored[:-6] + ("A" if stored[-6] != "A" else "B") + stored[-5:]
    with pytest.raises(SealError):
        unseal(KEY, "remote-token", altered)
