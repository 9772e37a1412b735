"""Type stubs of the Rust extension module (see the docstrings on the objects themselves)."""

from collections.abc import Sequence
from os import PathLike
from typing import Any, Literal, final

from typing_extensions import Buffer

__version__: str
MAX_VOCAB: int

TokenIds = Sequence[int] | Buffer

@final
class Key:
    @staticmethod
    def generate(
        *,
        scheme: Literal["kgw", "gumbel", "synthid", "selfhash"] = "kgw",
        gamma: float = 0.25,
        delta: float = 2.0,
        context: int | None = None,
        prf: Literal["v1", "v2"] = "v2",
        depth: int = 30,
        tokenizer: str = "o200k_base",
    ) -> Key: ...
    @staticmethod
    def from_vllm(
        vllm_key: int,
        *,
        algorithm: Literal["gumbel", "dual_key_gumbel", "red_green"] = "gumbel",
        context: int = 4,
        alpha: float = 0.1,
        gamma: float = 0.25,
        delta: float = 2.0,
        tokenizer: str = "o200k_base",
    ) -> Key: ...
    @staticmethod
    def load(path: str | PathLike[str]) -> Key: ...
    @staticmethod
    def from_json(text: str) -> Key: ...
    def save(self, path: str | PathLike[str]) -> None: ...
    @property
    def key_id(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def gamma(self) -> float | None: ...
    @property
    def delta(self) -> float | None: ...
    @property
    def context(self) -> int: ...
    @property
    def tokenizer(self) -> str: ...
    @property
    def account(self) -> str | None: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def normalization(self) -> str: ...
    def normalize(self, text: str) -> str: ...
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: TokenIds) -> str: ...
    def bias(self, context: TokenIds, logits: Buffer) -> None: ...
    def bias_batch(self, contexts: Sequence[TokenIds] | Buffer, logits: Buffer) -> None: ...
    def is_green(self, context: TokenIds, token: int) -> bool | None: ...
    def sample(
        self,
        context: TokenIds,
        logits: Buffer,
        uniform: float,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
    ) -> int: ...
    @property
    def chooses_token(self) -> bool: ...
    def sampler(
        self,
        prompt: TokenIds,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
    ) -> KeyedSampler: ...

KeyFile = Key

class KeyedSampler:
    def step(self, logits: Buffer, uniform: float) -> int: ...
    def accept(self, token: int) -> None: ...

@final
class MasterKey:
    @staticmethod
    def generate(
        *,
        gamma: float = 0.25,
        delta: float = 2.0,
        context: int = 2,
        tokenizer: str = "o200k_base",
        accounts: Literal["shifted", "independent"] = "shifted",
    ) -> MasterKey: ...
    @staticmethod
    def load(path: str | PathLike[str]) -> MasterKey: ...
    def save(self, path: str | PathLike[str]) -> None: ...
    def derive(self, account: str) -> Key: ...
    @property
    def key_id(self) -> str: ...
    @property
    def accounts(self) -> Literal["shifted", "independent"]: ...

@final
class Detection:
    scheme: str
    key_id: str
    tokens: int
    scored: int
    score: float
    green: int
    gamma: float
    z_score: float
    p_value: float | None
    log10_p_value: float
    exact_log10_p_value: float | None
    verdict: Literal["watermarked", "not_watermarked", "insufficient"]
    alpha: float
    flags: list[Literal["green", "red", "repeated", "no_context"]]
    @property
    def watermarked(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __bool__(self) -> bool: ...

def detect(
    key: Key,
    input: str | TokenIds,
    *,
    alpha: float = 1e-6,
    dedup: bool = True,
    min_tokens: int = 16,
    vocab_size: int | None = None,
) -> Detection: ...

def detect_rotation(
    keys: Sequence[Key],
    input: str | TokenIds,
    *,
    alpha: float = 1e-6,
    quiet: float = 1e-3,
    dedup: bool = True,
    min_tokens: int = 16,
    vocab_size: int | None = None,
) -> dict[str, Any]: ...

class Audit:
    def __init__(
        self, *, alpha: float = 1e-6, exclude_prompts: bool = True, min_tokens: int = 16
    ) -> None: ...
    def add_key(self, key: Key) -> None: ...
    def add_accounts(self, master: MasterKey, accounts: Sequence[str]) -> None: ...
    def add_prompt(self, prompt: TokenIds) -> None: ...
    def add_document(self, ids: TokenIds, prompt: TokenIds | None = None) -> None: ...
    def add_predictions(self, text: TokenIds, predictions: TokenIds) -> None: ...
    @property
    def documents(self) -> int: ...
    def report(self) -> dict[str, Any]: ...
    def codeword_tests(self) -> list[dict[str, Any]]: ...
