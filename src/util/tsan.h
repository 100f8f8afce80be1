/*
 * tsan.h — ThreadSanitizer annotations for Concurrency Kit (internal).
 *
 * TSan checks C11 atomics, not Concurrency Kit's: on x86-64 ck_pr's loads,
 * stores, compare-and-swaps and fences are inline assembly, so TSan sees
 * neither the ordering ck provides nor most of ck's own accesses, and the
 * shared libck (ck_epoch_poll and friends) is not instrumented at all.
 * What it does see are ck's plain accesses in its inline functions (a
 * ring's slot, a stack entry's link), with nothing ordering them.  Where
 * we call ck, two kinds of annotation say what it does:
 *
 * VD_TSAN_RELEASE(p) before the ck operation that publishes something,
 * VD_TSAN_ACQUIRE(p) after the one that observed it: the happens-before
 * edge ck provides, between the publisher's work before the release and
 * the observer's after the acquire.  p names the handoff (a ring, a pool's
 * box, an epoch record); it must not be the address of a C11 atomic, whose
 * own acquires would then synchronize with these releases too.
 *
 * VD_TSAN_IGNORE_BEGIN() / VD_TSAN_IGNORE_END() around a ck operation:
 * TSan records no access in between.  ck's plain accesses to its private
 * memory are ordered by fences inside the same inline call, where no
 * annotation of ours can go, and ck_stack_pop_mpmc reads a link that a
 * concurrent pop may be changing on purpose (its generation CAS discards
 * such a read): there is no edge to annotate, only memory that is ck's.
 * Nothing but the ck call goes in between, so our own memory stays checked
 * through the edges above.
 *
 * Without TSan every macro compiles to nothing.  This replaces name-based
 * suppressions, which match nothing when libck has no symbols.
 */
#ifndef VD_UTIL_TSAN_H
#define VD_UTIL_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define VD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VD_TSAN 1
#endif
#endif

#ifdef VD_TSAN
/* The runtime's interface (sanitizer/tsan_interface.h and the dynamic
 * annotations), declared here so no sanitizer header is needed. */
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);

#define VD_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define VD_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define VD_TSAN_IGNORE_BEGIN()                                                 \
	do {                                                                   \
		AnnotateIgnoreReadsBegin(__FILE__, __LINE__);                  \
		AnnotateIgnoreWritesBegin(__FILE__, __LINE__);                 \
	} while (0)
#define VD_TSAN_IGNORE_END()                                                   \
	do {                                                                   \
		AnnotateIgnoreWritesEnd(__FILE__, __LINE__);                   \
		AnnotateIgnoreReadsEnd(__FILE__, __LINE__);                    \
	} while (0)
#else
#define VD_TSAN_RELEASE(p) ((void)(p))
#define VD_TSAN_ACQUIRE(p) ((void)(p))
#define VD_TSAN_IGNORE_BEGIN()                                                 \
	do {                                                                   \
	} while (0)
#define VD_TSAN_IGNORE_END()                                                   \
	do {                                                                   \
	} while (0)
#endif

#endif
