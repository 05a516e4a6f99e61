# Stage "corpus": documents (train and three disjoint held-out sets), the tokenizer, and the token
# streams. The held-out sets (docs/architecture.md): valid = token analysis, ppl = validation
# perplexity (the x axis), task = source of the corpus-derived BIG-bench-style tasks.
from lmtraj.corpus.split import heldout_counts

HELDOUT_COUNTS = heldout_counts(
    config["corpus"],
    need_tasks=stage_enabled("bigbench")
    and config["bigbench"]["corpus_tasks"]["enabled"]
    and bool(config["bigbench"]["corpus_tasks"]["types"]),
)


# corpus_prepare and corpus_tokenizer may need the network (registry archives, a hub tokenizer): they
# run where snakemake runs (localrule, declared per rule so a family's renamed copy stays local too).
rule corpus_prepare:
    output:
        train="results/corpus/train_documents.jsonl",
        valid="results/corpus/valid_documents.jsonl",
        ppl="results/corpus/ppl_documents.jsonl",
        task="results/corpus/task_documents.jsonl",
    log:
        "logs/corpus/corpus_prepare.log",
    localrule: True
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(20),
    params:
        source=config["corpus"]["source"],
        cache_dir=config["corpus"]["cache_dir"],
        chunk_chars=config["corpus"]["chunk_chars"],
        counts=HELDOUT_COUNTS,
        need_train=len(TRAINED) > 0,
        seed=config["seed"],
    script:
        "../workflow_scripts/corpus_prepare.py"


rule corpus_tokenizer:
    input:
        train=rules.corpus_prepare.output.train,
    output:
        directory("results/corpus/tokenizer"),
    log:
        "logs/corpus/corpus_tokenizer.log",
    localrule: True
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime_min(20),
    params:
        tokenizer=config["tokenizer"],
        hub_cache=config["hub"]["cache_dir"],
    script:
        "../workflow_scripts/corpus_tokenizer.py"


rule corpus_tokenize_train:
    input:
        tokenizer=rules.corpus_tokenizer.output[0],
        docs=rules.corpus_prepare.output.train,
    output:
        "results/corpus/train_tokens.npy",
    log:
        "logs/corpus/corpus_tokenize_train.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime_min(30),
    script:
        "../workflow_scripts/corpus_tokenize_train.py"


rule corpus_tokenize_valid:
    input:
        tokenizer=rules.corpus_tokenizer.output[0],
        docs=rules.corpus_prepare.output.valid,
        ppl_docs=rules.corpus_prepare.output.ppl,
    output:
        tokens="results/corpus/valid_tokens.npz",
        ppl="results/corpus/ppl_tokens.npz",
    log:
        "logs/corpus/corpus_tokenize_valid.log",
    conda:
        "../envs/lmtraj.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime_min(10),
    params:
        max_tokens=config["corpus"]["valid_tokens_per_document"],
    script:
        "../workflow_scripts/corpus_tokenize_valid.py"
