#!/bin/sh
# Rebuilds the identification fixtures in this directory from lib.c. Run once
# by hand when the fixtures must change; the outputs are committed and the
# tests check them against sentry-cli, llvm-readobj and llvm-pdbutil.
#
# Needs (Debian bookworm): clang-14 lld-14 llvm-14 (llvm-lipo, dsymutil).
set -eu
cd "$(dirname "$0")"
CC="clang-14 -fdebug-prefix-map=$(pwd)=/src/ident"
LLVM=/usr/lib/llvm-14/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Mach-O: one thin dylib per arch, a fat one holding both, and the dSYM
# companion (MH_DSYM with __DWARF) of the x86_64 one. lld derives LC_UUID
# from the content, so rebuilding gives the same ids.
for arch in x86_64 arm64; do
	$CC --target=$arch-apple-macos11 -g -O1 -c lib.c -o "$tmp/lib_$arch.o"
	ld64.lld-14 -arch $arch -platform_version macos 11.0 11.0 -dylib \
		-install_name @rpath/libident.dylib -o "macho_$arch.dylib" "$tmp/lib_$arch.o"
done
$LLVM/llvm-lipo -create macho_x86_64.dylib macho_arm64.dylib -output macho_fat.dylib
$LLVM/dsymutil macho_x86_64.dylib -o "$tmp/x.dSYM"
cp "$tmp/x.dSYM/Contents/Resources/DWARF/macho_x86_64.dylib" macho_x86_64.dsym

# PE + PDB: -O0 keeps non-leaf functions so x86_64/arm64 images carry .pdata;
# /brepro makes TimeDateStamp a content hash instead of the clock.
for t in x86_64:x86_64-pc-windows-msvc x86:i686-pc-windows-msvc arm64:aarch64-pc-windows-msvc; do
	name=${t%%:*} triple=${t#*:}
	$CC --target=$triple -g -gcodeview -O0 -c lib.c -o "$tmp/pe_$name.obj"
	lld-link-14 /nologo /dll /noentry /nodefaultlib /debug /brepro \
		/pdb:"pe_$name.pdb" /pdbaltpath:pe_$name.pdb /implib:"$tmp/pe_$name.lib" /out:"pe_$name.dll" "$tmp/pe_$name.obj"
done

# ELF for architectures gcc here cannot target, including a big-endian one
# (its build-id is not byte-swapped into the debug id).
for t in aarch64:aarch64-linux-gnu i386:i386-linux-gnu ppc64:powerpc64-linux-gnu; do
	name=${t%%:*} triple=${t#*:}
	$CC --target=$triple -g -O1 -ffreestanding -fPIC -c lib.c -o "$tmp/elf_$name.o"
	ld.lld-14 --build-id=sha1 -shared -o "elf_$name.so" "$tmp/elf_$name.o"
done
ls -l macho_* pe_* elf_*
