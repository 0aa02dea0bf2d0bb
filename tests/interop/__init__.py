"""A robustness corpus: request bundles in the shapes real EHR senders produce."""
