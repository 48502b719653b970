# A thin wrapper for people who type make; the real work is in
# scripts/bootstrap.sh (which also installs what is missing, as root).
.PHONY: all demo test build clean
all: build
build:
	sh scripts/bootstrap.sh build
demo:
	sh scripts/bootstrap.sh demo
test:
	sh scripts/bootstrap.sh test
clean:
	rm -rf build build-asan
