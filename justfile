# orderbook-lab tasks. `just --list` shows them all.

# Run a phase or engine: just run --phase 3 --messages 20000
run *ARGS:
    uv run orderbook-lab run {{ARGS}}

# Compare phases on one stream: just compare --phases 1,2
compare *ARGS:
    uv run orderbook-lab compare {{ARGS}}

# The whole test suite (doctests included), as CI runs it
test *ARGS:
    uv run pytest {{ARGS}}

# Lint and check formatting
lint:
    uv run ruff check src tests
    uv run ruff format --check src tests

# Format the code
fmt:
    uv run ruff format src tests
    uv run ruff check --fix src tests

# Every benchmark
bench *ARGS:
    uv run orderbook-lab bench book {{ARGS}}
    uv run orderbook-lab bench codec {{ARGS}}
    uv run orderbook-lab bench ipc {{ARGS}}
    uv run orderbook-lab bench pipeline {{ARGS}}

# Run one experiment: just experiment 1.2
experiment ID *ARGS:
    uv run orderbook-lab experiment {{ID}} {{ARGS}}
