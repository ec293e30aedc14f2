// SPDX-License-Identifier: GPL-2.0
/*
 * Guest-physical memory: pinning and accounting of memory regions, the
 * nested page table walker shared by EPT and NPT (the backend supplies the
 * entry format), guest memory access and the guest page-table walk that
 * turns a guest-virtual address into a guest-physical one (for fetching
 * instruction bytes and string I/O).
 *
 * Nested tables: the 2 MiB runs of a new region are mapped when it is
 * added (kvisor_mmu_prefault_slot()); anything else is mapped by the
 * nested page fault on a RAM address (2 MiB where the region allows).
 * Table pages come from a small cache (per vCPU, or on the stack of the
 * prefault) filled outside vm->mmu_lock, so nothing is allocated under
 * the spinlock.
 */
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <asm/processor-flags.h>
#include <asm/msr-index.h>

#include "kvisor.h"

/* Both EPT and NPT entries: address in bits 51:12, bit 7 = large page. */
#define NPT_ADDR_MASK	0x000ffffffffff000ULL
#define NPT_LARGE	BIT_ULL(7)
#define NPT_ENTRIES	512
#define LARGE_PAGES	512		/* 4 KiB pages per 2 MiB */

static u64 *npt_table_va(u64 entry)
{
	return phys_to_virt(entry & NPT_ADDR_MASK);
}

int kvisor_mmu_init(struct kvisor_vm *vm)
{
	vm->npt_root = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!vm->npt_root)
		return -ENOMEM;
	/* Nested paging walks in the host's paging mode (APM 15.25.5). */
	vm->npt_levels = pgtable_l5_enabled() ? 5 : 4;
	return 0;
}

static void npt_free_table(u64 *table, unsigned int level)
{
	int i;

	if (level > 1) {
		for (i = 0; i < NPT_ENTRIES; i++) {
			u64 e = table[i];

			if (kvisor_ops->npt_present(e) && !(e & NPT_LARGE))
				npt_free_table(npt_table_va(e), level - 1);
		}
	}
	free_page((unsigned long)table);
}

void kvisor_mmu_destroy(struct kvisor_vm *vm)
{
	if (vm->npt_root)
		npt_free_table(page_address(vm->npt_root), vm->npt_levels);
	vm->npt_root = NULL;
}

static void npt_zap(u64 *table, unsigned int level, u64 base_gfn,
		    u64 start, u64 end)
{
	u64 span = 1ULL << (9 * (level - 1));	/* frames per entry */
	int i;

	for (i = 0; i < NPT_ENTRIES; i++) {
		u64 gfn = base_gfn + i * span;
		u64 e = table[i];

		if (gfn >= end || gfn + span <= start)
			continue;
		if (!kvisor_ops->npt_present(e))
			continue;
		if (level == 1 || (e & NPT_LARGE))
			WRITE_ONCE(table[i], 0);
		else
			npt_zap(npt_table_va(e), level - 1, gfn, start, end);
	}
}

/* Remove the translations of [gfn, gfn + npages); caller flushes. */
void kvisor_mmu_zap_range(struct kvisor_vm *vm, u64 gfn, u64 npages)
{
	lockdep_assert_held(&vm->mmu_lock);
	npt_zap(page_address(vm->npt_root), vm->npt_levels, 0, gfn,
		gfn + npages);
}

static void mmu_flush_ipi(void *unused)
{
}

/*
 * After nested translations were removed: make every vCPU of @vm take a
 * fresh TLB tag at its next entry, and wait until no CPU still runs it
 * with the old one.  A vCPU reads tlb_gen with interrupts disabled just
 * before entering; if it read the old value, our IPI is held pending and
 * forces it out of the guest, and the IPI completes only after that.
 * Old tags are never reused before a full flush (the backend's tag
 * allocator), so the pages may be unpinned when this returns.
 */
void kvisor_mmu_flush_vm(struct kvisor_vm *vm)
{
	atomic64_inc(&vm->tlb_gen);
	/* the new tlb_gen is visible before any IPI is sent */
	smp_mb__after_atomic();
	on_each_cpu(mmu_flush_ipi, NULL, 1);
}

int kvisor_mmu_topup_cache(struct kvisor_mmu_cache *cache)
{
	while (cache->nr < KVISOR_MMU_CACHE_PAGES) {
		struct page *p = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

		if (!p)
			return -ENOMEM;
		cache->pages[cache->nr++] = p;
	}
	return 0;
}

void kvisor_mmu_free_cache(struct kvisor_mmu_cache *cache)
{
	while (cache->nr)
		__free_page(cache->pages[--cache->nr]);
}

/* A 2 MiB mapping needs the whole aligned range in the slot, contiguous. */
static bool slot_can_map_large(const struct kvisor_memslot *slot, u64 gfn)
{
	u64 base = gfn & ~(u64)(LARGE_PAGES - 1), off, pfn0;
	int i;

	if (base < slot->gfn || base + LARGE_PAGES > slot->gfn + slot->npages)
		return false;
	off = base - slot->gfn;
	pfn0 = page_to_pfn(slot->pages[off]);
	if (pfn0 & (LARGE_PAGES - 1))
		return false;
	for (i = 1; i < LARGE_PAGES; i++)
		if (page_to_pfn(slot->pages[off + i]) != pfn0 + i)
			return false;
	return true;
}

/*
 * Map @gfn in the nested tables: 2 MiB where the slot allows it, else
 * 4 KiB (or nothing when @large_only).  Returns 1 when the access can be
 * retried, 0 when it is MMIO (no slot, or a write to a read-only one).
 */
static int mmu_map(struct kvisor_vm *vm, struct kvisor_mmu_cache *cache,
		   u64 gfn, bool write, bool large_only)
{
	const struct kvisor_arch_ops *ops = kvisor_ops;
	struct kvisor_memslot *slot;
	u64 *table, pa;
	unsigned int level, target;
	bool large, writable;
	int ret;

	ret = kvisor_mmu_topup_cache(cache);
	if (ret)
		return ret;

	spin_lock(&vm->mmu_lock);
	slot = kvisor_gfn_to_slot(vm, gfn);
	if (!slot || (write && (slot->flags & KVISOR_MEM_READONLY))) {
		spin_unlock(&vm->mmu_lock);
		return 0;
	}
	writable = !(slot->flags & KVISOR_MEM_READONLY);
	large = slot_can_map_large(slot, gfn);
	if (!large && large_only) {
		spin_unlock(&vm->mmu_lock);
		return 1;
	}
	target = large ? 2 : 1;

	table = page_address(vm->npt_root);
	for (level = vm->npt_levels; ; level--) {
		unsigned int idx = (gfn >> (9 * (level - 1))) & (NPT_ENTRIES - 1);
		u64 e = table[idx];

		if (level == target) {
			/* an old 4 KiB table from a deleted slot: map small */
			if (large && ops->npt_present(e) && !(e & NPT_LARGE)) {
				large = false;
				target = 1;
				table = npt_table_va(e);
				continue;
			}
			if (!ops->npt_present(e)) {
				if (large)
					pa = page_to_phys(slot->pages[(gfn & ~(u64)(LARGE_PAGES - 1)) -
								      slot->gfn]);
				else
					pa = page_to_phys(slot->pages[gfn - slot->gfn]);
				WRITE_ONCE(table[idx], ops->npt_leaf_entry(pa, writable, large));
			}
			break;
		}
		if (ops->npt_present(e) && (e & NPT_LARGE))
			break;		/* another vCPU mapped it large */
		if (!ops->npt_present(e)) {
			struct page *p = cache->pages[--cache->nr];

			e = ops->npt_table_entry(page_to_phys(p));
			WRITE_ONCE(table[idx], e);
		}
		table = npt_table_va(e);
	}
	spin_unlock(&vm->mmu_lock);
	return 1;
}

int kvisor_mmu_map_gpa(struct kvisor_vcpu *vcpu, u64 gpa, bool write)
{
	return mmu_map(vcpu->vm, &vcpu->mmu_cache, gpa >> PAGE_SHIFT, write, false);
}

/*
 * A new slot is pinned whole, so its 2 MiB runs of contiguous frames can
 * be mapped now, one entry each, instead of by a nested page fault apiece
 * on first touch.  The rest (4 KiB-backed parts) still fault in lazily.
 * Only an optimization: on failure the faults do the work.
 */
void kvisor_mmu_prefault_slot(struct kvisor_vm *vm,
			      const struct kvisor_memslot *slot)
{
	struct kvisor_mmu_cache cache = { .nr = 0 };
	u64 gfn = ALIGN(slot->gfn, LARGE_PAGES);

	for (; gfn + LARGE_PAGES <= slot->gfn + slot->npages; gfn += LARGE_PAGES) {
		if (mmu_map(vm, &cache, gfn, false, true) < 0)
			break;
		cond_resched();
	}
	kvisor_mmu_free_cache(&cache);
}

int kvisor_mmu_pin_slot(struct kvisor_vm *vm, struct kvisor_memslot *slot)
{
	unsigned int gup = FOLL_LONGTERM;
	struct page **pages;
	u64 done = 0;
	int ret;

	if (!(slot->flags & KVISOR_MEM_READONLY))
		gup |= FOLL_WRITE;
	/*
	 * RLIMIT_MEMLOCK unless CAP_IPC_LOCK: -ENOMEM when over.  Checked
	 * first: the page array of a refused region (up to 128 MiB) is
	 * never allocated.
	 */
	ret = account_locked_vm(vm->mm, slot->npages, true);
	if (ret)
		return ret;
	pages = kvmalloc_array(slot->npages, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages) {
		ret = -ENOMEM;
		goto err_unaccount;
	}

	/*
	 * In 2 MiB steps, the first page of each alone: pinning a page that
	 * is not yet there walks the page tables once per 4 KiB, but its
	 * fault brings in a whole transparent huge page where the range
	 * allows one, and the other 511 pages then pin in one step of the
	 * lockless walk (one reference count update for the whole folio).
	 */
	while (done < slot->npages) {
		u64 addr = slot->uaddr + (done << PAGE_SHIFT);
		u64 to_2m = (ALIGN(addr + 1, PMD_SIZE) - addr) >> PAGE_SHIFT;
		unsigned long chunk;
		long n;

		if (IS_ALIGNED(addr, PMD_SIZE) && slot->npages - done > 1)
			chunk = 1;
		else
			chunk = min(slot->npages - done, to_2m);
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto err_unpin;
		}
		n = pin_user_pages_fast(addr, chunk, gup, pages + done);
		if (n <= 0) {
			ret = n ? n : -EFAULT;
			goto err_unpin;
		}
		done += n;
		cond_resched();
	}
	slot->pages = pages;
	return 0;

err_unpin:
	unpin_user_pages(pages, done);
	kvfree(pages);
err_unaccount:
	account_locked_vm(vm->mm, slot->npages, false);
	return ret == -ENOMEM || ret == -EINTR ? ret : -EFAULT;
}

void kvisor_mmu_unpin_slot(struct kvisor_vm *vm, struct kvisor_memslot *slot)
{
	bool dirty = !(slot->flags & KVISOR_MEM_READONLY);

	unpin_user_pages_dirty_lock(slot->pages, slot->npages, dirty);
	account_locked_vm(vm->mm, slot->npages, false);
	kvfree(slot->pages);
}

static int gpa_access(struct kvisor_vm *vm, u64 gpa, void *buf,
		      unsigned int len, bool write)
{
	while (len) {
		unsigned int off = offset_in_page(gpa);
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - off);
		struct kvisor_memslot *slot;
		struct page *page;
		void *va;

		spin_lock(&vm->mmu_lock);
		slot = kvisor_gfn_to_slot(vm, gpa >> PAGE_SHIFT);
		if (!slot || (write && (slot->flags & KVISOR_MEM_READONLY))) {
			spin_unlock(&vm->mmu_lock);
			return -EFAULT;
		}
		page = slot->pages[(gpa >> PAGE_SHIFT) - slot->gfn];
		va = kmap_local_page(page);
		if (write)
			memcpy(va + off, buf, n);
		else
			memcpy(buf, va + off, n);
		kunmap_local(va);
		spin_unlock(&vm->mmu_lock);
		buf += n;
		gpa += n;
		len -= n;
	}
	return 0;
}

int kvisor_read_gpa(struct kvisor_vm *vm, u64 gpa, void *buf, unsigned int len)
{
	return gpa_access(vm, gpa, buf, len, false);
}

int kvisor_write_gpa(struct kvisor_vm *vm, u64 gpa, const void *buf,
		     unsigned int len)
{
	return gpa_access(vm, gpa, (void *)buf, len, true);
}

/*
 * The guest's own translation of @gva, as the CPU just did it (AMD APM
 * Vol. 2, 5.3 legacy, 5.3.3/5.3.4 PAE, 5.3.5 long mode).  Permissions are
 * not checked: the access being emulated already passed them.
 */
int kvisor_gva_to_gpa(struct kvisor_vcpu *vcpu,
		      const struct kvisor_sregs *sregs, u64 gva, u64 *gpa)
{
	struct kvisor_vm *vm = vcpu->vm;
	u64 e, table;
	int level;

	if (!(sregs->cr0 & X86_CR0_PG)) {
		*gpa = gva & 0xffffffffULL;
		return 0;
	}
	if (sregs->efer & EFER_LMA) {
		level = (sregs->cr4 & X86_CR4_LA57) ? 5 : 4;
		table = sregs->cr3 & NPT_ADDR_MASK;
	} else if (sregs->cr4 & X86_CR4_PAE) {
		gva &= 0xffffffffULL;
		if (kvisor_read_gpa(vm, (sregs->cr3 & 0xffffffe0ULL) + ((gva >> 30) & 3) * 8,
				    &e, 8) || !(e & _PAGE_PRESENT))
			return -EFAULT;
		table = e & NPT_ADDR_MASK;
		level = 2;
	} else {
		u32 pde, pte;

		gva &= 0xffffffffULL;
		if (kvisor_read_gpa(vm, (sregs->cr3 & 0xfffff000ULL) + (gva >> 22) * 4,
				    &pde, 4) || !(pde & _PAGE_PRESENT))
			return -EFAULT;
		if ((pde & _PAGE_PSE) && (sregs->cr4 & X86_CR4_PSE)) {
			*gpa = (pde & 0xffc00000ULL) | ((u64)((pde >> 13) & 0xff) << 32) |
			       (gva & 0x3fffff);
			return 0;
		}
		if (kvisor_read_gpa(vm, (pde & 0xfffff000ULL) + ((gva >> 12) & 0x3ff) * 4,
				    &pte, 4) || !(pte & _PAGE_PRESENT))
			return -EFAULT;
		*gpa = (pte & 0xfffff000ULL) | (gva & 0xfff);
		return 0;
	}

	for (; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (level - 1);

		if (kvisor_read_gpa(vm, table + ((gva >> shift) & 511) * 8, &e, 8) ||
		    !(e & _PAGE_PRESENT))
			return -EFAULT;
		if (level == 1 || ((level == 2 || level == 3) && (e & _PAGE_PSE))) {
			u64 mask = (1ULL << shift) - 1;

			*gpa = (e & NPT_ADDR_MASK & ~mask) | (gva & mask);
			return 0;
		}
		table = e & NPT_ADDR_MASK;
	}
	return -EFAULT;
}

/* Atomically OR @bits into the 4- or 8-byte paging entry at @gpa (A/D). */
static int gpa_set_bits(struct kvisor_vm *vm, u64 gpa, u64 bits,
			unsigned int size)
{
	struct kvisor_memslot *slot;
	void *va;
	int ret = 0;

	spin_lock(&vm->mmu_lock);
	slot = kvisor_gfn_to_slot(vm, gpa >> PAGE_SHIFT);
	if (!slot || (slot->flags & KVISOR_MEM_READONLY)) {
		ret = -EIO;
	} else {
		va = kmap_local_page(slot->pages[(gpa >> PAGE_SHIFT) - slot->gfn]);
		if (size == 8)
			atomic64_or(bits, (atomic64_t *)(va + offset_in_page(gpa)));
		else
			atomic_or((u32)bits, (atomic_t *)(va + offset_in_page(gpa)));
		kunmap_local(va);
	}
	spin_unlock(&vm->mmu_lock);
	return ret;
}

/*
 * The guest's translation of @gva for an access its instruction makes,
 * checked as the CPU checks it (Intel SDM Vol. 3A 4.6, AMD APM Vol. 2
 * 5.6): @access holds the #PF error-code bits of the access
 * (KVISOR_PFEC_WRITE, _USER for CPL 3, _FETCH).  U/S and R/W of every
 * level, CR0.WP, EFER.NXE and NX, CR4.SMEP and CR4.SMAP (with
 * @rflags.AC), reserved bits above MAXPHYADDR and NX without NXE.  On
 * success the Accessed bits of the entries used, and Dirty of the leaf
 * for a write, are set (SDM 4.8).
 *
 * Returns 0 with *@gpa; -EFAULT for a page fault, *@pfec its error code
 * (SDM 4.7); -EIO when a paging structure is not in RAM, or its A/D bits
 * would have to be written into read-only memory: the CPU would read a
 * device or take a nested fault there, which kvisor does not emulate.
 */
int kvisor_gva_translate(struct kvisor_vcpu *vcpu,
			 const struct kvisor_sregs *s, u64 rflags, u64 gva,
			 u32 access, u64 *gpa, u32 *pfec)
{
	struct kvisor_vm *vm = vcpu->vm;
	bool write = access & KVISOR_PFEC_WRITE, user = access & KVISOR_PFEC_USER;
	bool fetch = access & KVISOR_PFEC_FETCH;
	bool nxe = s->efer & EFER_NX, smep = s->cr4 & X86_CR4_SMEP;
	bool u_ok = true, w_ok = true, nx = false, leaf = false;
	u64 rsvd = GENMASK_ULL(51, boot_cpu_data.x86_phys_bits);
	u64 ent_gpa[5], ent_val[5], e = 0, table, mask = 0;
	unsigned int esize = 8, top, n = 0, i;
	int level;
	u32 err;

	err = access & (KVISOR_PFEC_WRITE | KVISOR_PFEC_USER);
	if (fetch && (nxe || smep))
		err |= KVISOR_PFEC_FETCH;
	if (!nxe)
		rsvd |= BIT_ULL(63);
	if (!(s->cr0 & X86_CR0_PG)) {
		*gpa = gva & 0xffffffffULL;
		return 0;
	}

	if (s->efer & EFER_LMA) {
		top = (s->cr4 & X86_CR4_LA57) ? 5 : 4;
		table = s->cr3 & NPT_ADDR_MASK;
	} else if (s->cr4 & X86_CR4_PAE) {
		u64 pdpte;

		gva &= 0xffffffffULL;
		/* PDPTEs have no permission bits (SDM 4.4.1) */
		if (kvisor_read_gpa(vm, (s->cr3 & 0xffffffe0ULL) + ((gva >> 30) & 3) * 8,
				    &pdpte, 8))
			return -EIO;
		if (!(pdpte & _PAGE_PRESENT))
			goto fault;
		table = pdpte & NPT_ADDR_MASK;
		top = 2;
	} else {
		gva &= 0xffffffffULL;
		table = s->cr3 & 0xfffff000ULL;
		top = 2;
		esize = 4;
		rsvd = 0;
	}

	for (level = top; level >= 1 && !leaf; level--) {
		unsigned int shift = esize == 4 ? 12 + 10 * (level - 1) :
					      12 + 9 * (level - 1);
		u64 idx = (gva >> shift) & (esize == 4 ? 1023 : 511);
		u64 ea = table + idx * esize;
		u32 e32;

		if (esize == 4) {
			if (kvisor_read_gpa(vm, ea, &e32, 4))
				return -EIO;
			e = e32;
		} else if (kvisor_read_gpa(vm, ea, &e, 8)) {
			return -EIO;
		}
		if (!(e & _PAGE_PRESENT))
			goto fault;
		ent_gpa[n] = ea;
		ent_val[n++] = e;
		if (e & rsvd)
			goto fault_rsvd;
		u_ok &= !!(e & _PAGE_USER);
		w_ok &= !!(e & _PAGE_RW);
		nx |= nxe && (e & _PAGE_NX);
		mask = (1ULL << shift) - 1;
		if (level == 1) {
			leaf = true;
		} else if (e & _PAGE_PSE) {
			/* PS: a 4 MiB (32-bit, with CR4.PSE), 2 MiB or 1 GiB page */
			if (esize == 4 && !(s->cr4 & X86_CR4_PSE)) {
				table = e & 0xfffff000ULL;
				continue;
			}
			if (level > 3 || (level == 3 && !(s->efer & EFER_LMA)))
				goto fault_rsvd;
			leaf = true;
		} else {
			table = e & (esize == 4 ? 0xfffff000ULL : NPT_ADDR_MASK);
		}
	}
	if (!leaf)
		goto fault;

	/* SDM Vol. 3A 4.6.1: access rights */
	if (user) {
		if (!u_ok || (write && !w_ok))
			goto fault_prot;
	} else {
		if (write && !w_ok && (s->cr0 & X86_CR0_WP))
			goto fault_prot;
		if (u_ok && fetch && smep)
			goto fault_prot;
		if (u_ok && !fetch && (s->cr4 & X86_CR4_SMAP) &&
		    !(rflags & X86_EFLAGS_AC))
			goto fault_prot;
	}
	if (fetch && nx)
		goto fault_prot;

	for (i = 0; i < n; i++) {
		u64 bits = _PAGE_ACCESSED;

		if (i == n - 1 && write)
			bits |= _PAGE_DIRTY;
		if ((ent_val[i] & bits) != bits &&
		    gpa_set_bits(vm, ent_gpa[i], bits, esize))
			return -EIO;
	}
	if (esize == 4 && mask == 0x3fffff)
		/* PSE-36: bits 20:13 of the PDE are bits 39:32 (SDM 4.3) */
		*gpa = (e & 0xffc00000ULL) | (((e >> 13) & 0xff) << 32) |
		       (gva & mask);
	else
		*gpa = (e & (esize == 4 ? 0xfffff000ULL : NPT_ADDR_MASK) & ~mask) |
		       (gva & mask);
	return 0;

fault_rsvd:
	err |= KVISOR_PFEC_RSVD;
fault_prot:
	err |= KVISOR_PFEC_PRESENT;
fault:
	*pfec = err;
	return -EFAULT;
}

static int gva_access(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *sregs,
		      u64 gva, void *buf, unsigned int len, bool write)
{
	while (len) {
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - offset_in_page(gva));
		u64 gpa;
		int ret;

		ret = kvisor_gva_to_gpa(vcpu, sregs, gva, &gpa);
		if (!ret)
			ret = gpa_access(vcpu->vm, gpa, buf, n, write);
		if (ret)
			return ret;
		buf += n;
		gva += n;
		len -= n;
	}
	return 0;
}

int kvisor_read_gva(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *sregs,
		    u64 gva, void *buf, unsigned int len)
{
	return gva_access(vcpu, sregs, gva, buf, len, false);
}

int kvisor_write_gva(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *sregs,
		     u64 gva, const void *buf, unsigned int len)
{
	return gva_access(vcpu, sregs, gva, (void *)buf, len, true);
}
