#!/bin/sh
# SPDX-License-Identifier: MIT
#
# tests/device/fio-guest.sh - fio's verify over regbuf's userspace NVMe driver,
# inside the QEMU guest (guest.sh boot --bin fio-guest.sh, mode vfio), or over
# NVMe passthrough on the kernel's driver (REGBUF_FIO_BACKEND=uring_cmd, mode
# kernel: /dev/ng0n1 through regbuf's ring pool, one registration cloned or
# registered again into both jobs' rings; damage goes through /dev/nvme0n1
# with busybox dd, and a write QEMU's blkdebug fails must end as EIO with the
# NVMe status printed).  REGBUF_FIO_HIPRI=1 (a boot with nvme.poll_queues=N)
# runs fio's verify with hipri=1 instead, through passthrough and through the
# block device (backend=uring); without poll queues hipri=1 must be refused
# with the reason.
#
# fio (built from the same source tree as the engine) runs regbuf-fio.so with
# backend=nvme on the controller the guest bound to vfio-pci: every block is
# written with fio's verify header and checksum and read back through the
# driver (verify_backlog interleaves the reads with the writes), random and
# sequential, PRPs and SGLs, block sizes from one LBA to 256 KiB.  The last
# two cases prove the oracle can fail: a block fio wrote is overwritten with
# 'regbuf-static nvme write' (a fill byte, or a valid block read from another
# offset, which only the header's offset check can see), and a verify-only
# pass must then report a verify error.  Busybox sh; harness contract: case lines, then
# "fio-guest: N passed, N failed, N skipped"; exit 0/1/77.
#
# REGBUF_FIO_BACKEND=uring_cmd,uring runs the script once per backend, case
# names prefixed with the backend; backend=uring verifies through the block
# device REGBUF_BLK (O_DIRECT, fixed buffers).  REGBUF_BLKDEBUG_WRITE_MIB: where
# QEMU's blkdebug fails writes (default 4, the single-guest rule).
#
# REGBUF_FIO_BACKEND=uring_cmd_md: metadata and protection information through
# the uring_cmd backend, on the namespaces whose NSIDs are REGBUF_FIO_MD_SEP (8 bytes of
# separate metadata), _PI (8 bytes, PI Type 1), _PI3 (16 bytes, PI Type 3 in
# the last 8) and _EXT (extended LBA, refused).
AREA=fio-guest
ENGINE=/bin/regbuf-fio.so
passed=0 failed=0 skipped=0
backend=${REGBUF_FIO_BACKEND:-nvme}
case $backend in
*,*)
	rc=0
	for b in $(echo "$backend" | tr , ' '); do
		REGBUF_FIO_BACKEND=$b REGBUF_FIO_PREFIX=$b/ "$0"
		r=$?
		[ $rc != 0 ] || rc=$r
	done
	exit $rc ;;
esac
pfx=${REGBUF_FIO_PREFIX:-}
ok() { echo "ok $pfx$1"; passed=$((passed + 1)); }
fail() { echo "FAIL $pfx$1: $2"; failed=$((failed + 1)); }
eio_mib=${REGBUF_BLKDEBUG_WRITE_MIB:-4}

if [ "$backend" = uring_cmd_md ]; then
	# The kernel names namespaces in the order it finds them (ng0n3 may be
	# NSID 4 on 6.12): the char device of NSID $1, by its block device's nsid.
	ng_of_nsid() {
		for f in /sys/block/nvme0n*/nsid; do
			[ "$(cat "$f")" = "$1" ] || continue
			d=${f%/nsid}
			echo "/dev/ng${d##*/nvme}"
			return
		done
	}
	i=0
	while [ -z "$(ng_of_nsid "${REGBUF_FIO_MD_PI3:-0}")" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	md_sep=$(ng_of_nsid "${REGBUF_FIO_MD_SEP:-0}") md_pi=$(ng_of_nsid "${REGBUF_FIO_MD_PI:-0}")
	md_pi3=$(ng_of_nsid "${REGBUF_FIO_MD_PI3:-0}") md_ext=$(ng_of_nsid "${REGBUF_FIO_MD_EXT:-0}")
	target=$md_pi
	report="regbuf: ng0n[0-9]*: [0-9]* bytes of metadata per block, separate buffer"
elif [ "$backend" = uring ]; then
	target=${REGBUF_BLK:-}
	report="regbuf: uring pool: [0-9]* rings"
elif [ "$backend" = uring_cmd ]; then
	target=${REGBUF_NG:-}
	# the engine's report line for the namespace
	report="regbuf: uring_cmd ${target#/dev/} (nsid 1): [0-9]* blocks of ${REGBUF_EXPECT_LBS:-512} B"
else
	# fio splits file names at ':'; the engine takes 0000.00.04.0 for 0000:00:04.0.
	target=$(echo "${REGBUF_NVME_DEVICE:-}" | tr : .)
	report="regbuf: nvme ${REGBUF_NVME_DEVICE:-} (.*): vfio, ns 1: .* blocks of ${REGBUF_EXPECT_LBS:-512} B"
fi
if [ -z "$target" ] || [ ! -x /bin/fio ] || [ ! -f "$ENGINE" ]; then
	echo "SKIP $pfx$AREA: needs REGBUF_NVME_DEVICE (nvme), REGBUF_NG (uring_cmd) or REGBUF_BLK (uring), /bin/fio and $ENGINE (guest.sh initrd --dynamic)"
	echo "$AREA: 0 passed, 0 failed, 1 skipped"
	exit 77
fi
dev=$target
lbs=${REGBUF_EXPECT_LBS:-512}
cd /tmp || exit 99

# run NAME ARGS...: fio with the engine's backend; output in NAME.out.
run() {
	out=$backend.$1.out
	shift
	/bin/fio --thread=1 --ioengine="external:$ENGINE" --backend="${backend%_md}" \
		--filename="$dev" --verify_state_save=0 $direct "$@" >"$out" 2>&1
}
# the block path needs O_DIRECT for fixed buffers
direct=
[ "$backend" = uring ] && direct=--direct=1
why() {
	grep -E 'regbuf:|verify|err=|error|fio:' "$backend.$1.out" | head -n 4 | tr '\n' ' '
}
# "io=16.0MiB" of fio's READ / WRITE summary lines.
io_of() {
	sed -n "s/^ *$2: .* io=\([^ ,]*\).*/\1/p" "$backend.$1.out" | head -n 1
}

# A passing verify job: exit 0, no job error, the driver's report line.
verify_case() {
	name=$1
	shift
	if ! run "$name" "$@"; then
		fail "$name" "fio exited non-zero: $(why "$name")"
	elif grep -q 'err= *[1-9]' "$backend.$name.out"; then
		fail "$name" "a job reported an error: $(why "$name")"
	elif ! grep -q "$report" "$backend.$name.out"; then
		fail "$name" "no '$report' line: $(why "$name")"
	else
		echo "$pfx$name: written $(io_of "$name" WRITE), read and verified $(io_of "$name" READ)"
		[ "$name" != crc32c_randwrite ] || grep 'regbuf: ' "$backend.$name.out"
		ok "$name"
	fi
}

# refused_case NAME EXPECT ARGS...: fio must fail before any I/O, saying EXPECT.
refused_case() {
	name=$1 expect=$2
	shift 2
	if run "$name" "$@"; then
		fail "$name" "fio ran: $(why "$name")"
	elif ! grep -q "$expect" "$backend.$name.out"; then
		fail "$name" "no '$expect' in: $(why "$name")"
	else
		echo "$pfx$name: $(grep "$expect" "$backend.$name.out" | head -n 1)"
		ok "$name"
	fi
}

if [ "$backend" = uring_cmd_md ]; then
	# md_per_io_size: 8 bytes for each of the 128 blocks of a 64 KiB I/O
	md="--md_per_io_size=1024"
	vfy="--rw=randwrite --bsrange=512-64k --size=8M --iodepth=8 --verify=crc32c --verify_fatal=1"
	# shellcheck disable=SC2086 # word lists by construction
	{
	dev=$md_sep
	verify_case md_separate --name=v $vfy $md
	refused_case md_separate_needs_buffer "md_per_io_size must be at least" --name=v $vfy
	dev=$md_pi
	# PRACT: the controller makes and strips the tuples, checking them
	verify_case pi_pract --name=v $vfy --pi_act=1 --pi_chk=GUARD,REFTAG,APPTAG
	# the engine writes the tuples, the controller checks them on write and read
	verify_case pi_host_tuples --name=v $vfy --pi_act=0 $md --pi_chk=GUARD,REFTAG,APPTAG
	refused_case pi_chk_unknown "GUARD, REFTAG and APPTAG are the checks" --name=v $vfy \
		--pi_act=0 $md --pi_chk=CRC
	# a wrong application tag on read: the controller's status, as EIO
	name=pi_apptag_mismatch_is_eio
	if ! run "$name.write" --name=w --rw=write --bs=4k --offset=32M --size=64k --pi_act=0 $md \
		--apptag=0x1234; then
		fail "$name" "write failed: $(why "$name.write")"
	elif run "$name" --name=r --rw=read --bs=4k --offset=32M --size=64k --pi_act=0 $md \
		--apptag=0x4321 --pi_chk=APPTAG; then
		fail "$name" "a read with the wrong application tag succeeded"
	elif ! grep -q 'err= *5[^0-9]' "$backend.$name.out" ||
		! grep -q "NVMe Read of 4096 bytes at 33554432: status 0x.*SCT 0x2, SC 0x83" \
			"$backend.$name.out"; then
		fail "$name" "not EIO with SCT 2h SC 83h: $(why "$name")"
	else
		echo "$pfx$name: $(grep 'NVMe Read' "$backend.$name.out" | head -n 1)"
		ok "$name"
	fi
	dev=$md_pi3
	verify_case pi3_host_tuples_last8 --name=v $vfy --pi_act=0 --md_per_io_size=2048 \
		--pi_chk=GUARD,APPTAG
	dev=$md_ext
	refused_case extended_lba_refused "extended LBA format" --name=v $vfy
	}
	echo "$AREA: $passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ] || exit 1
	exit 0
fi

if [ "${REGBUF_FIO_HIPRI:-0}" = 1 ]; then
	# Polled (IORING_SETUP_IOPOLL) rings: two jobs sharing the registration,
	# passthrough first, then the block device of the same namespace.
	report="regbuf: uring pool: 2 rings polled (hipri)"
	verify_case hipri_uring_cmd_crc32c --hipri=1 --name=v --numjobs=2 --rw=randwrite \
		--bs=4k --size=8M --offset=16M --offset_increment=8M --iodepth=16 --verify=crc32c \
		--verify_backlog=64 --verify_fatal=1
	backend=uring dev=${REGBUF_BLK:-/dev/nvme0n1}
	verify_case hipri_uring_block_md5 --hipri=1 --direct=1 --name=v --numjobs=2 \
		--rw=randwrite --bsrange="$lbs-64k" --size=8M --offset=48M --offset_increment=8M \
		--iodepth=8 --verify=md5 --verify_backlog=32 --verify_fatal=1
	echo "$AREA: $passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ] || exit 1
	exit 0
fi

if [ "$backend" = uring_cmd ] || [ "$backend" = uring ]; then
	if [ "$backend" = uring_cmd ]; then
		# hipri=1 without poll queues: refused, with the sysfs file that says why.
		name=hipri_refused_without_poll_queues
		if run "$name" --name=h --rw=read --bs=4k --size=64k --hipri=1; then
			fail "$name" "fio ran hipri I/O on a namespace without poll queues"
		elif ! grep -q "hipri: $target cannot be polled: /sys/block/nvme0n1/queue/io_poll is 0" \
			"$backend.$name.out"; then
			fail "$name" "not refused with the reason: $(why "$name")"
		else
			echo "$name: $(grep 'cannot be polled' "$backend.$name.out" | head -n 1)"
			ok "$name"
		fi
	fi
	# Two jobs, each its own ring of the pool, sharing one registration.
	# Away from bytes [4 MiB, 4 MiB + 4 KiB), where blkdebug fails writes.
	verify_case crc32c_randwrite --name=v --numjobs=2 --rw=randwrite --bs=4k --size=8M \
		--offset=16M --offset_increment=8M --iodepth=16 --verify=crc32c \
		--verify_backlog=64 --verify_fatal=1
	# Random sizes up to 192 KiB: fio's buffers sit 192 KiB apart, so with
	# short kernel buffers (256 KiB on 6.1 with QEMU's limits) some I/Os cross
	# one and are sent as two commands completing one fio I/O.
	verify_case crc32c_mixed_bs --name=v --rw=randwrite --bsrange="$lbs-192k" --offset=64M \
		--size=16M --iodepth=8 --verify=crc32c --verify_backlog=16 --verify_fatal=1
	# 2 MiB I/Os: more than any namespace here takes in one command (QEMU's
	# MDTS, the fabrics hosts' block-path limit), so each is several commands.
	verify_case crc32c_2m --name=v --rw=write --bs=2m --offset=96M --size=16M --iodepth=4 \
		--verify=crc32c --verify_fatal=1
	# lazy_register=1: the arena's 2 MiB pieces registered by the first I/O that
	# reaches each; fio's 1536 KiB buffers cross pieces, so some I/Os are sent
	# over two kernel buffers.  Linux 6.12 clones only whole buffer tables, so
	# registering a piece would empty the other jobs' tables while they submit:
	# there the option is refused, with that reason.
	lazy="--lazy_register=1 --name=v --numjobs=2 --rw=randwrite --bs=1536k --size=12M
		--offset=16M --offset_increment=12M --iodepth=4"
	case $(uname -r) in
	6.12.*)
		name=lazy_register_refused_whole_table_clone
		# shellcheck disable=SC2086 # $lazy: options without spaces
		if run "$name" $lazy; then
			fail "$name" "fio ran lazy_register on a kernel that clones whole tables only"
		elif ! grep -q 'regbuf: lazy_register: this kernel clones only whole buffer tables' \
			"$backend.$name.out"; then
			fail "$name" "not refused with the reason: $(why "$name")"
		else
			ok "$name"
		fi
		;;
	*)
		# shellcheck disable=SC2086
		verify_case lazy_register_crc32c $lazy --verify=crc32c --verify_fatal=1
		name=lazy_register_reported
		if grep -q 'regbuf: uring pool: 2 rings, .*lazy: ' "$backend.lazy_register_crc32c.out" &&
			grep -q 'regbuf: lazy_register: [1-9][0-9]* KiB of the arena' \
				"$backend.lazy_register_crc32c.out"; then
			echo "$pfx$name: $(grep 'regbuf: lazy_register: ' "$backend.lazy_register_crc32c.out")"
			ok "$name"
		else
			fail "$name" "no lazy pool or no registration report: $(why lazy_register_crc32c)"
		fi
		;;
	esac
fi
if [ "$backend" = uring_cmd ]; then
	# "regbuf: ng0n1: job v: N I/Os sent as M NVMe commands": M > N, or no
	# I/O completed from more than one CQE.
	name=split_commands
	split=$(sed -n 's/^regbuf: .*: job v: \([0-9]*\) I\/Os sent as \([0-9]*\) NVMe commands$/\1 \2/p' \
		"$backend.crc32c_2m.out" | head -n 1)
	if [ -z "$split" ]; then
		fail "$name" "no 'I/Os sent as' line in crc32c_2m's output"
	elif [ "${split#* }" -le "${split% *}" ]; then
		fail "$name" "no I/O was split: ${split% *} I/Os, ${split#* } commands"
	else
		echo "$pfx$name: ${split% *} I/Os sent as ${split#* } commands"
		ok "$name"
	fi
fi

# corrupt_case NAME VERIFY OFFSET-MIB DAMAGE EXPECT: write 4 MiB with headers
# at OFFSET, verify it (must pass), run DAMAGE behind fio's back, verify again:
# fio must fail with an error matching EXPECT.
corrupt_case() {
	name=$1
	common="--name=c --rw=write --bs=4k --offset=$3M --size=4M --iodepth=8 --verify=$2"
	# shellcheck disable=SC2086 # common is a word list by construction
	if ! run "$name.write" $common --do_verify=0; then
		fail "$name" "write pass failed: $(why "$name.write")"
	elif ! run "$name.clean" $common --verify_only=1; then
		fail "$name" "verify of untouched data failed: $(why "$name.clean")"
	elif ! eval "$4" >"$backend.$name.damage.out" 2>&1; then
		fail "$name" "could not damage the namespace: $(head -n 2 "$backend.$name.damage.out" | tr '\n' ' ')"
	elif run "$name.damaged" $common --verify_only=1; then
		fail "$name" "fio verified damaged data without error"
	elif ! grep -Eiq "$5" "$backend.$name.damaged.out"; then
		fail "$name" "fio failed, but not with a verify error: $(why "$name.damaged")"
	else
		echo "$pfx$name: $(grep -Ei "$5" "$backend.$name.damaged.out" | head -n 1)"
		ok "$name"
	fi
}

# Trim: 4 MiB at 200 MiB written with fio's headers, then [201 MiB, 203 MiB)
# trimmed in 64 KiB pieces (Dataset Management, Deallocate): fio exits 0
# with no error, its zero-pattern verify reads the trimmed range as zeros
# (QEMU's namespace: DLFEAT "reads of deallocated blocks return zeroes",
# the drive discards with discard=unmap), and the blocks around it still
# verify.
trim_case() {
	name=trim_dsm_deallocates
	w="--name=t --rw=write --bs=64k --offset=200M --size=4M --iodepth=4 --verify=crc32c"
	# shellcheck disable=SC2086 # w is a word list by construction
	if ! run "$name.write" $w --do_verify=0; then
		fail "$name" "write pass failed: $(why "$name.write")"
	elif ! run "$name" --name=t --rw=randtrim --bs=64k --offset=201M --size=2M --iodepth=4; then
		fail "$name" "fio exited non-zero: $(why "$name")"
	elif grep -q 'err= *[1-9]' "$backend.$name.out" || ! grep -q 'trim: IOPS=' "$backend.$name.out"; then
		fail "$name" "no trim without error: $(why "$name")"
	elif ! run "$name.zeros" --name=z --rw=read --bs=64k --offset=201M --size=2M \
		--verify=pattern --verify_pattern=0 --verify_fatal=1; then
		fail "$name" "the trimmed range does not read as zeros: $(why "$name.zeros")"
	elif ! run "$name.kept" --name=t --rw=write --bs=64k --offset=200M --size=1M \
		--verify=crc32c --verify_only=1; then
		fail "$name" "the blocks before the trimmed range changed: $(why "$name.kept")"
	else
		echo "$name: $(grep 'trim: IOPS=' "$backend.$name.out" | head -n 1)"
		ok "$name"
	fi
}

if [ "$backend" = uring_cmd ] || [ "$backend" = uring ]; then
	blk=${REGBUF_BLK:-/dev/nvme0n1}
	# 4 KiB of zeroes over block 100 of the 4 MiB, through the block device.
	corrupt_case crc32c_corruption_caught crc32c 128 \
		"dd if=/dev/zero of=$blk bs=4096 seek=$((128 * 256 + 100)) count=1 conv=notrunc oflag=direct" \
		'verify.*(failed|bad)|bad (magic|header)|crc32c'
	# A valid block copied to the wrong place: only the header's offset is wrong.
	corrupt_case md5_misplaced_block_caught md5 160 \
		"dd if=$blk of=/tmp/block3 bs=4096 skip=$((160 * 256 + 3)) count=1 iflag=direct &&
		 dd if=/tmp/block3 of=$blk bs=4096 seek=$((160 * 256 + 200)) count=1 conv=notrunc oflag=direct" \
		'offset|bad header'
	# blkdebug fails every write to bytes [eio_mib MiB, + 4 KiB): QEMU completes
	# the command with an NVMe status, which must reach fio as EIO (printed by
	# backend=uring_cmd); through the block layer (backend=uring) as the errno
	# it maps the status to: EIO, or ENODATA for a media error (BLK_STS_MEDIUM,
	# what nvmet answers a failed write with across a fabric).
	name=nvme_status_is_eio
	errs=5
	[ "$backend" = uring ] && errs='5|61'
	if run "$name" --name=e --rw=write --bs=4k --offset="${eio_mib}M" --size=4k; then
		fail "$name" "a write blkdebug fails completed without error"
	elif ! grep -Eq "err= *($errs)[^0-9]" "$backend.$name.out"; then
		fail "$name" "fio's error is not one of $errs: $(why "$name")"
	elif [ "$backend" = uring_cmd ] && ! grep -q "regbuf: ${target#/dev/}: NVMe Write of 4096 bytes at $((eio_mib << 20)): status 0x" "$backend.$name.out"; then
		fail "$name" "no NVMe status printed: $(why "$name")"
	else
		echo "$pfx$name: $(grep -E 'NVMe Write|err= *[0-9]' "$backend.$name.out" | head -n 1)"
		ok "$name"
	fi
	# Over a fabric, reads of the trimmed range returned the old data (nvmet
	# on 6.12 in the pair boots): zeroes after Deallocate are the local
	# controller's promise (DLFEAT), so the trim is checked there only.
	if [ "$backend" = uring_cmd ] && [ -z "${REGBUF_FABRICS_DOWN:-}" ]; then trim_case; fi
	echo "$AREA: $passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ] || exit 1
	exit 0
fi

# Two jobs (two queue pairs) writing 4 KiB blocks at random, crc32c.
verify_case crc32c_randwrite --name=v --numjobs=2 --rw=randwrite --bs=4k --size=8M \
	--offset_increment=8M --iodepth=16 --verify=crc32c --verify_backlog=64 --verify_fatal=1
# Sequential 64 KiB writes, md5 with fio's header, PRPs only.
verify_case md5_seqwrite_prp --name=v --rw=write --bs=64k --offset=32M --size=16M --iodepth=8 \
	--verify=md5 --verify_backlog=32 --verify_fatal=1 --enable_sgl=0
# Random sizes from one block to 256 KiB, always SGLs.
verify_case crc32c_mixed_bs_sgl --name=v --rw=randwrite --bsrange="$lbs-256k" --offset=64M \
	--size=16M --iodepth=8 --verify=crc32c --verify_backlog=16 --verify_fatal=1 --enable_sgl=1

cli="/bin/regbuf-static nvme"
# LBA of byte MIB MiB + 4 KiB block N, and the LBAs in one 4 KiB block
lba() { echo $((($1 * 1024 * 1024 + $2 * 4096) / lbs)); }
per=$((4096 / lbs))

# 4 KiB of 0x5a over block 100 of the 4 MiB: header and checksum both wrong.
corrupt_case crc32c_corruption_caught crc32c 128 \
	"$cli write --device $REGBUF_NVME_DEVICE --lba $(lba 128 100) --blocks $per --fill 0x5a" \
	'verify.*(failed|bad)|bad (magic|header)|crc32c'
# A valid block copied to the wrong place: its md5 is right, its header's offset is not.
corrupt_case md5_misplaced_block_caught md5 160 \
	"$cli read --device $REGBUF_NVME_DEVICE --lba $(lba 160 3) --blocks $per --out /tmp/block3 &&
	 $cli write --device $REGBUF_NVME_DEVICE --lba $(lba 160 200) --blocks $per --in /tmp/block3" \
	'offset|bad header'
trim_case

echo "$AREA: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] || exit 1
exit 0
