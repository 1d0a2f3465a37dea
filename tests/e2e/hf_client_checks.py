"""Calls POST /summarize the way huggingface_hub's users do, with whichever huggingface_hub the
running interpreter has (tests/e2e/test_hf_clients.py runs it in each version's venv), and prints
one JSON object: for each check, what the call returned or what it raised.

    .tools/hf-hub-2/bin/python tests/e2e/hf_client_checks.py SUMMARIZATION_URL TEXT2TEXT_URL

The function passes the model's answer on unchanged, and each client method reads its task's key:
summarization() summary_text, text_generation() generated_text. So the text generation checks go
to TEXT2TEXT_URL, the function in front of a text2text-generation endpoint.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable

import huggingface_hub
from huggingface_hub import InferenceClient

TIMEOUT_S = 20
ARTICLE = "Copper hit a record high on Tuesday. Miners rallied across Asia. Gold slipped."


def raw_post(client: InferenceClient, url: str, payload: dict) -> Any:
    """A request of the caller's own through the library: InferenceClient.post up to 0.27, the
    library's HTTP session and error check from 1.0 (which removed post)."""
    if hasattr(client, "post"):
        return json.loads(client.post(json=payload, model=url))
    from huggingface_hub import get_session, hf_raise_for_status

    response = get_session().post(url, json=payload, timeout=TIMEOUT_S)
    hf_raise_for_status(response)
    return response.json()


def checks(url: str, text2text_url: str) -> dict[str, Callable[[], Any]]:
    client = InferenceClient(model=url, timeout=TIMEOUT_S)
    generator = InferenceClient(model=text2text_url, timeout=TIMEOUT_S)
    return {
        "summarization": lambda: client.summarization(
            ARTICLE, clean_up_tokenization_spaces=True, truncation="do_not_truncate").summary_text,
        "summarization-generate-parameters": lambda: client.summarization(
            ARTICLE, generate_parameters={"max_length": 60, "min_length": 5, "num_beams": 2,
                                          "early_stopping": True}).summary_text,
        # First: once a text generation call has been refused over TGI's own parameters, 0.27
        # takes the endpoint for one without streaming and refuses stream=True itself.
        "refused-text-generation-stream": lambda: list(generator.text_generation(ARTICLE, stream=True)),
        "text-generation": lambda: generator.text_generation(ARTICLE, max_new_tokens=40, do_sample=False),
        "raw-post-options": lambda: raw_post(client, url, {
            "inputs": ARTICLE, "options": {"wait_for_model": True, "use_cache": False}}),
        # Flattened: the stand-in answers one summary per sequence asked for.
        "raw-post-nested-sequences": lambda: raw_post(client, url, {
            "inputs": ARTICLE, "parameters": {"generate_parameters": {"num_return_sequences": 2, "num_beams": 2}}}),
        "refused-summarization-beams": lambda: client.summarization(
            ARTICLE, generate_parameters={"num_beams": 64, "max_length": 100000, "num_return_sequences": 50}),
        "refused-raw-post-remote-code": lambda: raw_post(client, url, {
            "inputs": ARTICLE, "parameters": {"custom_generate": "org/repo", "trust_remote_code": True}}),
    }


def raised(error: BaseException) -> dict[str, Any]:
    """What a caller can read off an exception (and off the HTTP error behind it, if any)."""
    response = getattr(error, "response", None)
    outcome: dict[str, Any] = {
        "class": f"{type(error).__module__}.{type(error).__qualname__}",
        "bases": [f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__],
        "message": str(error),
        "status": getattr(response, "status_code", None),
        "server_message": getattr(error, "server_message", None),
    }
    if response is not None:
        try:
            outcome["body"] = response.json()
        except Exception:  # noqa: BLE001 (what it is does not matter: it is not JSON)
            outcome["body"] = None
    if error.__cause__ is not None:
        outcome["cause"] = raised(error.__cause__)
    return outcome


def main(url: str, text2text_url: str) -> int:
    results: dict[str, Any] = {"version": huggingface_hub.__version__}
    for name, call in checks(url, text2text_url).items():
        try:
            results[name] = {"returned": call()}
        except Exception as error:  # noqa: BLE001 (every outcome is reported; the test judges it)
            results[name] = {"raised": raised(error)}
    json.dump(results, sys.stdout, default=repr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
