# Images and the kind end-to-end test. Included by the Makefile after $(STAMP) is defined.

images: ## build the one mlcd image (operator and pipeline steps), tagged with the package version
	hack/images.sh

e2e: $(STAMP) ## kind cluster, KServe CRDs, chart, samples; says so and exits 0 without Docker or kind
	hack/e2e.sh

.PHONY: images e2e
