"""corpus stage: public-domain texts from package registries or files, cleaned, chunked and split."""
