//! The policy runtime: a Wasm policy module compiled once, instantiated per review in a fresh,
//! bounded store (time, memory, output), and every failure turned into a deny verdict.
//!
//! Isolation model: one `Engine` and `Module` (Cranelift compile, ~40 ms) and one `InstancePre`
//! for the life of the server; per request a new `Store` with its own WASI context (no args,
//! env, files or sockets; stderr captured to a small buffer), a `StoreLimits` memory cap and an
//! epoch deadline advanced by a ticker thread. The pooling allocator makes a fresh instance cost
//! tens of microseconds, so no state ever leaks from one review to the next.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use wasmtime::{
    Caller, Config, Engine, ExternType, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap, ValType,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::review;

/// The policy module ABI version this host speaks (`skupper_abi_version` export).
pub const ABI_VERSION: u32 = skupper_core::admission::POLICY_ABI_VERSION;

/// How often the ticker thread advances the engine's epoch.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// What a module may print on stderr before it traps (a panic message fits easily).
const STDERR_CAPACITY: usize = 8 * 1024;

/// Resource bounds applied to every evaluation.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock budget of one evaluation (instantiation included).
    pub timeout: Duration,
    /// Cap on the module's linear memory, in bytes.
    pub memory_bytes: usize,
    /// Largest response a module may return, in bytes.
    pub max_output_bytes: usize,
    /// Instances that may run at once (the pooling allocator's slots).
    pub concurrency: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(1), memory_bytes: 64 << 20, max_output_bytes: 1 << 20, concurrency: 32 }
    }
}

/// Where the policy module came from, for messages.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The module embedded in this binary.
    BuiltIn,
    /// A module file given with `--policy`.
    File(std::path::PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BuiltIn => f.write_str("the built-in policy module"),
            Self::File(p) => write!(f, "policy module {}", p.display()),
        }
    }
}

/// Per-store state: the WASI context and the memory limiter.
struct Ctx {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// A compiled policy module ready to evaluate reviews. Cheap to share (`Arc`) across threads.
pub struct PolicyRuntime {
    engine: Engine,
    pre: InstancePre<Ctx>,
    origin: Origin,
    settings_json: RwLock<Arc<Vec<u8>>>,
    limits: Limits,
    deadline_ticks: u64,
    has_initialize: bool,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for PolicyRuntime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Why an evaluation did not produce a response from the module.
#[derive(Debug)]
pub enum Failure {
    /// The module ran past its time budget.
    Timeout(Duration),
    /// The module trapped (panic, abort, out-of-bounds access, memory cap...).
    Trap(String),
    /// The module returned something that breaks the ABI.
    Abi(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout(d) => {
                write!(f, "the policy module did not finish within its time limit of {} ms", d.as_millis())
            }
            Self::Trap(m) => write!(f, "the policy module failed: {m}"),
            Self::Abi(m) => write!(f, "the policy module broke the host ABI: {m}"),
        }
    }
}

impl PolicyRuntime {
    /// Compiles `wasm` (binary module) and checks its exports against the ABI. `settings_json`
    /// is passed to every evaluation. Fails with a message naming the module on any problem.
    pub fn load(wasm: &[u8], origin: Origin, settings_json: Vec<u8>, limits: Limits) -> anyhow::Result<Self> {
        let concurrency = limits.concurrency.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(concurrency)
            .total_memories(concurrency)
            .total_tables(concurrency)
            .total_component_instances(0)
            .max_memory_size(limits.memory_bytes)
            // Keep the first pages of each slot resident: fewer page faults per instance.
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10);
        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(anyhow::Error::from).context("cannot configure the Wasm engine")?;
        let module = Module::new(&engine, wasm).map_err(|e| {
            anyhow::anyhow!(
                "cannot load {origin}: {e:#}; give a WebAssembly binary module built for \
                 wasm32-wasip1 (scripts/build-policy.sh builds the default one)"
            )
        })?;
        let has_initialize = check_exports(&module)
            .map_err(|e| anyhow::anyhow!("{origin} does not follow the policy ABI: {e}; see wasm/policy/README.md"))?;

        let mut linker: Linker<Ctx> = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |c: &mut Ctx| &mut c.wasi)
            .map_err(anyhow::Error::from)
            .context("cannot link WASI preview 1")?;
        define_wapc_stubs(&mut linker)?;
        let pre = linker.instantiate_pre(&module).map_err(|e| {
            anyhow::anyhow!(
                "cannot link {origin}: {e:#}; a policy module may import only WASI preview 1 \
                 and the waPC guest functions"
            )
        })?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), ticker_stop.clone())?;
        let ticks = limits.timeout.as_micros() / EPOCH_TICK.as_micros();
        let deadline_ticks = u64::try_from(ticks).unwrap_or(u64::MAX).max(1);
        Ok(Self {
            engine,
            pre,
            origin,
            settings_json: RwLock::new(Arc::new(settings_json)),
            limits,
            deadline_ticks,
            has_initialize,
            ticker_stop,
        })
    }

    /// Where the module came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The settings JSON every evaluation gets.
    pub fn settings(&self) -> Arc<Vec<u8>> {
        match self.settings_json.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The bounds applied to each evaluation.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Asks the module whether `settings_json` is acceptable. `Ok(Err(message))` when the
    /// module says no.
    pub fn validate_settings(&self) -> Result<Result<(), String>, Failure> {
        let settings = self.settings();
        let out = self.call(|inst, store| {
            let ptr = inst.write(store, &settings)?;
            let f = inst.func2(store, "skupper_validate_settings")?;
            let packed = f.call(&mut *store, (ptr, len32(&settings)?)).map_err(|e| inst.failure(e))?;
            inst.read_packed(store, packed)
        })?;
        #[derive(serde::Deserialize)]
        struct Answer {
            valid: bool,
            #[serde(default)]
            message: Option<String>,
        }
        let a: Answer = serde_json::from_slice(&out)
            .map_err(|e| Failure::Abi(format!("settings answer is not valid JSON: {e}")))?;
        Ok(if a.valid { Ok(()) } else { Err(a.message.unwrap_or_else(|| "invalid settings".into())) })
    }

    /// A fresh store and instance, nothing called: the fixed part of every review's cost
    /// (for the benchmark).
    pub fn instantiate_only(&self) -> Result<(), Failure> {
        self.call(|_, _| Ok(()))
    }

    /// Runs the module on one AdmissionReview body and returns the module's raw answer.
    pub fn evaluate(&self, review_json: &[u8]) -> Result<Vec<u8>, Failure> {
        self.evaluate_with(review_json, &self.settings())
    }

    /// [`Self::evaluate`] with these settings instead of the runtime's (the webhook's view of
    /// the cluster's Links for this review).
    pub fn evaluate_with(&self, review_json: &[u8], settings: &[u8]) -> Result<Vec<u8>, Failure> {
        self.call(|inst, store| {
            let req = inst.write(store, review_json)?;
            let set = inst.write(store, settings)?;
            let f = inst.func4(store, "skupper_validate")?;
            let packed =
                f.call(&mut *store, (req, len32(review_json)?, set, len32(settings)?)).map_err(|e| inst.failure(e))?;
            inst.read_packed(store, packed)
        })
    }

    /// Evaluates one review end to end: module answer checked and bounded, or a deny that
    /// explains what went wrong. Never fails.
    pub fn review(&self, review_json: &[u8]) -> Vec<u8> {
        self.review_with(review_json, &self.settings())
    }

    /// [`Self::review`] with these settings instead of the runtime's.
    pub fn review_with(&self, review_json: &[u8], settings: &[u8]) -> Vec<u8> {
        let uid = review::request_uid(review_json);
        match self.evaluate_with(review_json, settings) {
            Ok(answer) => review::checked_response(&answer, &uid),
            Err(failure) => review::deny(&uid, &format!("link policy: {failure}"), 500),
        }
    }

    /// One fresh store and instance, then `f`. Instantiation errors and traps are failures.
    fn call<T>(&self, f: impl FnOnce(&Guest, &mut Store<Ctx>) -> Result<T, Failure>) -> Result<T, Failure> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build_p1();
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes)
            .instances(1)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, Ctx { wasi, limits });
        store.limiter(|c| &mut c.limits);
        store.set_epoch_deadline(self.deadline_ticks);
        store.epoch_deadline_trap();
        let explain = Explain { stderr, timeout: self.limits.timeout, memory_bytes: self.limits.memory_bytes };
        let instance = self.pre.instantiate(&mut store).map_err(|e| explain.failure(e))?;
        if self.has_initialize {
            let init = instance.get_typed_func::<(), ()>(&mut store, "_initialize").map_err(abi)?;
            init.call(&mut store, ()).map_err(|e| explain.failure(e))?;
        }
        let guest = Guest { instance, explain, max_output: self.limits.max_output_bytes };
        f(&guest, &mut store)
    }
}

/// Turns guest errors into [`Failure`]s, with what the module wrote on stderr.
struct Explain {
    stderr: MemoryOutputPipe,
    timeout: Duration,
    memory_bytes: usize,
}

impl Explain {
    fn failure(&self, e: wasmtime::Error) -> Failure {
        if let Some(Trap::Interrupt) = e.downcast_ref::<Trap>() {
            return Failure::Timeout(self.timeout);
        }
        let mut msg = match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => format!("it exited with status {}", exit.0),
            None => match e.downcast_ref::<Trap>() {
                Some(Trap::UnreachableCodeReached) => {
                    "it trapped (wasm `unreachable`: the module panicked or aborted)".to_string()
                }
                Some(t) => format!("it trapped: {t}"),
                // Skip the "error while executing at wasm backtrace" context: the cause is what
                // the user needs (e.g. the memory limit that was hit).
                None => {
                    let cause = first_line(&e.root_cause().to_string());
                    if cause.contains("growing memory") {
                        format!("it went over its memory limit of {} MiB ({cause})", self.memory_bytes >> 20)
                    } else {
                        cause
                    }
                }
            },
        };
        let stderr = self.stderr.contents();
        let stderr = String::from_utf8_lossy(&stderr);
        let stderr = stderr.trim();
        if !stderr.is_empty() {
            msg.push_str("; module stderr: ");
            msg.push_str(&truncate(stderr, 512));
        }
        Failure::Trap(msg)
    }
}

fn abi(e: wasmtime::Error) -> Failure {
    Failure::Abi(format!("{e:#}"))
}

/// One live instance of the module.
struct Guest {
    instance: wasmtime::Instance,
    explain: Explain,
    max_output: usize,
}

type Func2 = wasmtime::TypedFunc<(u32, u32), u64>;
type Func4 = wasmtime::TypedFunc<(u32, u32, u32, u32), u64>;

impl Guest {
    fn func2(&self, store: &mut Store<Ctx>, name: &str) -> Result<Func2, Failure> {
        self.instance.get_typed_func(store, name).map_err(abi)
    }

    fn func4(&self, store: &mut Store<Ctx>, name: &str) -> Result<Func4, Failure> {
        self.instance.get_typed_func(store, name).map_err(abi)
    }

    fn failure(&self, e: wasmtime::Error) -> Failure {
        self.explain.failure(e)
    }

    fn memory(&self, store: &mut Store<Ctx>) -> Result<wasmtime::Memory, Failure> {
        self.instance.get_memory(store, "memory").ok_or_else(|| Failure::Abi("no exported memory".into()))
    }

    /// Copies `bytes` into a buffer the module allocates; returns the guest pointer.
    fn write(&self, store: &mut Store<Ctx>, bytes: &[u8]) -> Result<u32, Failure> {
        let alloc = self.instance.get_typed_func::<u32, u32>(&mut *store, "skupper_alloc").map_err(abi)?;
        let ptr = alloc.call(&mut *store, len32(bytes)?).map_err(|e| self.failure(e))?;
        if ptr == 0 && !bytes.is_empty() {
            return Err(Failure::Trap(format!("it could not allocate {} bytes for its input", bytes.len())));
        }
        self.memory(store)?
            .write(&mut *store, ptr as usize, bytes)
            .map_err(|_| Failure::Abi("skupper_alloc returned a buffer outside memory".into()))?;
        Ok(ptr)
    }

    /// Reads the `(ptr << 32) | len` result of a call out of guest memory.
    fn read_packed(&self, store: &mut Store<Ctx>, packed: u64) -> Result<Vec<u8>, Failure> {
        let ptr = (packed >> 32) as usize;
        let len = (packed & 0xffff_ffff) as usize;
        if len > self.max_output {
            return Err(Failure::Abi(format!("its answer is {len} bytes, more than the {} allowed", self.max_output)));
        }
        let mut out = vec![0; len];
        self.memory(store)?
            .read(&*store, ptr, &mut out)
            .map_err(|_| Failure::Abi("its answer points outside its memory".into()))?;
        Ok(out)
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn len32(bytes: &[u8]) -> Result<u32, Failure> {
    u32::try_from(bytes.len()).map_err(|_| Failure::Abi("input larger than 4 GiB".into()))
}

/// Checks the exports the host calls. Returns whether `_initialize` (WASI reactor) exists.
fn check_exports(module: &Module) -> Result<bool, String> {
    use ValType::{I32, I64};
    let want: [(&str, &[ValType], &[ValType]); 5] = [
        ("skupper_abi_version", &[], &[I32]),
        ("skupper_alloc", &[I32], &[I32]),
        ("skupper_validate", &[I32, I32, I32, I32], &[I64]),
        ("skupper_validate_settings", &[I32, I32], &[I64]),
        ("_initialize", &[], &[]),
    ];
    let mut has_initialize = false;
    for (name, params, results) in want {
        let Some(ExternType::Func(ty)) = module.get_export(name) else {
            if name == "_initialize" {
                continue;
            }
            return Err(format!("it has no exported function `{name}`"));
        };
        let same = |got: Vec<ValType>, want: &[ValType]| {
            got.len() == want.len() && got.iter().zip(want).all(|(a, b)| ValType::eq(a, b))
        };
        if !same(ty.params().collect(), params) || !same(ty.results().collect(), results) {
            return Err(format!("its export `{name}` has the type {ty}"));
        }
        has_initialize |= name == "_initialize";
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => Ok(has_initialize),
        _ => Err("it exports no `memory`".into()),
    }
}

/// Our module also speaks waPC (for Kubewarden) and so imports three waPC host functions.
/// This host drives the module through its C ABI and never reaches them: they trap if called.
fn define_wapc_stubs(linker: &mut Linker<Ctx>) -> anyhow::Result<()> {
    for name in ["__guest_request", "__guest_response", "__guest_error"] {
        linker
            .func_wrap("wapc", name, move |_: Caller<'_, Ctx>, _: i32, _: i32| -> wasmtime::Result<()> {
                wasmtime::bail!("waPC host function {name} called outside a waPC host")
            })
            .map_err(anyhow::Error::from)
            .context("cannot define the waPC stubs")?;
    }
    Ok(())
}

/// Advances the epoch every [`EPOCH_TICK`] until `stop` is set.
fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("policy-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .context("cannot start the policy deadline thread")?;
    Ok(())
}

/// Fails unless the module reports the ABI version this host speaks.
pub fn check_abi_version(rt: &PolicyRuntime) -> anyhow::Result<()> {
    let v = rt
        .call(|inst, store| {
            let f = inst.instance.get_typed_func::<(), u32>(&mut *store, "skupper_abi_version").map_err(abi)?;
            f.call(&mut *store, ()).map_err(|e| inst.failure(e))
        })
        .map_err(|f| anyhow::anyhow!("{} cannot start: {f}", rt.origin))?;
    if v != ABI_VERSION {
        bail!(
            "{} speaks policy ABI version {v}, this kubectl-skupper speaks version {ABI_VERSION}; \
             rebuild the module against this release",
            rt.origin
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn runtime(wasm: &[u8], settings: Value, timeout_ms: u64) -> PolicyRuntime {
        let limits = Limits {
            timeout: Duration::from_millis(timeout_ms),
            memory_bytes: 16 << 20,
            concurrency: 4,
            ..Limits::default()
        };
        PolicyRuntime::load(wasm, Origin::BuiltIn, serde_json::to_vec(&settings).unwrap(), limits).unwrap()
    }

    fn verdict(rt: &PolicyRuntime, body: &[u8]) -> Value {
        serde_json::from_slice::<Value>(&rt.review(body)).unwrap()["response"].clone()
    }

    #[test]
    fn built_in_module_allows_a_good_link_and_denies_a_bad_one() {
        let rt = runtime(crate::BUILT_IN_POLICY, json!({"maxCost": 10}), 2000);
        check_abi_version(&rt).unwrap();
        assert_eq!(rt.validate_settings().unwrap(), Ok(()));
        let ok = verdict(&rt, &review::sample_review("u-ok", true));
        assert_eq!(ok["uid"], "u-ok");
        assert_eq!(ok["allowed"], true, "{ok}");
        let bad = verdict(&rt, &review::sample_review("u-bad", false));
        assert_eq!(bad["uid"], "u-bad");
        assert_eq!(bad["allowed"], false, "{bad}");
        assert!(bad["status"]["message"].as_str().unwrap().contains("spec.cost"), "{bad}");
    }

    #[test]
    fn built_in_module_rejects_bad_settings() {
        let rt = runtime(crate::BUILT_IN_POLICY, json!({"maxCost": "many"}), 2000);
        let why = rt.validate_settings().unwrap().unwrap_err();
        assert!(why.contains("maxCost"), "{why}");
    }

    fn wat_module(validate_body: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module
              (memory (export "memory") 1)
              (global $next (mut i32) (i32.const 1024))
              (func (export "skupper_abi_version") (result i32) (i32.const 7))
              (func (export "skupper_alloc") (param i32) (result i32)
                (local $p i32) (local.set $p (global.get $next))
                (global.set $next (i32.add (global.get $next) (local.get 0))) (local.get $p))
              (func (export "skupper_validate_settings") (param i32 i32) (result i64) (i64.const 0))
              (func (export "skupper_validate") (param i32 i32 i32 i32) (result i64) {validate_body}))"#
        ))
        .unwrap()
    }

    #[test]
    fn traps_timeouts_and_lies_become_denies() {
        let body = review::sample_review("u-1", true);
        let rt = runtime(&wat_module("unreachable"), json!({}), 2000);
        let r = verdict(&rt, &body);
        assert_eq!((r["uid"].as_str(), r["allowed"].as_bool()), (Some("u-1"), Some(false)));
        assert!(r["status"]["message"].as_str().unwrap().contains("unreachable"), "{r}");

        let rt = runtime(&wat_module("(loop $l (br $l)) (i64.const 0)"), json!({}), 50);
        let r = verdict(&rt, &body);
        assert!(r["status"]["message"].as_str().unwrap().contains("time limit of 50 ms"), "{r}");

        // An answer pointing far outside memory.
        let rt = runtime(&wat_module("(i64.const 0x7fff000000000100)"), json!({}), 2000);
        let r = verdict(&rt, &body);
        assert!(r["status"]["message"].as_str().unwrap().contains("outside"), "{r}");

        // A module speaking another ABI version is refused at start-up.
        let e = check_abi_version(&rt).unwrap_err().to_string();
        assert!(e.contains("version 7"), "{e}");
    }

    /// Drives the built-in module the way a waPC host (Kubewarden's policy-server) does:
    /// `wapc_init`, then `__guest_call(op_len, payload_len)` with the host answering
    /// `__guest_request` and collecting `__guest_response` / `__guest_error`. `_initialize` is
    /// deliberately not called, as waPC hosts do not call it.
    #[test]
    fn module_speaks_wapc() {
        struct W {
            wasi: WasiP1Ctx,
            op: Vec<u8>,
            payload: Vec<u8>,
            response: Option<Vec<u8>>,
            error: Option<Vec<u8>>,
        }
        fn mem(c: &mut Caller<'_, W>) -> wasmtime::Memory {
            c.get_export("memory").unwrap().into_memory().unwrap()
        }
        let engine = Engine::default();
        let module = Module::new(&engine, crate::BUILT_IN_POLICY).unwrap();
        let mut linker: Linker<W> = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |w: &mut W| &mut w.wasi).unwrap();
        linker
            .func_wrap("wapc", "__guest_request", |mut c: Caller<'_, W>, op: i32, p: i32| {
                let (o, pl) = (c.data().op.clone(), c.data().payload.clone());
                let m = mem(&mut c);
                m.write(&mut c, op as usize, &o).unwrap();
                m.write(&mut c, p as usize, &pl).unwrap();
            })
            .unwrap();
        linker
            .func_wrap("wapc", "__guest_response", |mut c: Caller<'_, W>, p: i32, n: i32| {
                let mut buf = vec![0; n as usize];
                mem(&mut c).read(&c, p as usize, &mut buf).unwrap();
                c.data_mut().response = Some(buf);
            })
            .unwrap();
        linker
            .func_wrap("wapc", "__guest_error", |mut c: Caller<'_, W>, p: i32, n: i32| {
                let mut buf = vec![0; n as usize];
                mem(&mut c).read(&c, p as usize, &mut buf).unwrap();
                c.data_mut().error = Some(buf);
            })
            .unwrap();
        let mut store = Store::new(
            &engine,
            W { wasi: WasiCtxBuilder::new().build_p1(), op: vec![], payload: vec![], response: None, error: None },
        );
        let inst = linker.instantiate(&mut store, &module).unwrap();
        inst.get_typed_func::<(), ()>(&mut store, "wapc_init").unwrap().call(&mut store, ()).unwrap();
        let call = inst.get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call").unwrap();
        // One instance, many calls: the way policy-server uses it.
        let mut guest_call = |op: &str, payload: Value| -> (i32, Value) {
            let payload = serde_json::to_vec(&payload).unwrap();
            let w = store.data_mut();
            (w.op, w.payload, w.response, w.error) = (op.into(), payload, None, None);
            let (ol, pl) = (store.data().op.len() as i32, store.data().payload.len() as i32);
            let rc = call.call(&mut store, (ol, pl)).unwrap();
            let w = store.data();
            let out = w.response.clone().or(w.error.clone()).unwrap();
            (rc, serde_json::from_slice(&out).unwrap_or(Value::String(String::from_utf8_lossy(&out).into())))
        };
        let mut review: Value = serde_json::from_slice(&review::sample_review("w-1", true)).unwrap();
        let request = review["request"].take();

        let (rc, v) = guest_call("protocol_version", json!(null));
        assert_eq!((rc, v), (1, json!("v1")));
        let (rc, v) = guest_call("validate_settings", json!({"maxCost": 10}));
        assert_eq!((rc, v), (1, json!({"valid": true})));
        let (rc, v) = guest_call("validate_settings", json!({"maxCost": "x"}));
        assert_eq!((rc, v["valid"].clone()), (1, json!(false)));
        let (rc, v) = guest_call("validate", json!({"request": request, "settings": {"maxCost": 10}}));
        assert_eq!((rc, v["accepted"].clone()), (1, json!(true)), "{v}");
        let (rc, v) = guest_call("validate", json!({"request": request, "settings": {"maxCost": 1}}));
        assert_eq!((rc, v["accepted"].clone()), (1, json!(false)), "{v}");
        assert!(v["message"].as_str().unwrap().contains("spec.cost"), "{v}");
        let (rc, v) = guest_call("mutate", json!({}));
        assert_eq!(rc, 0);
        assert!(v.as_str().unwrap().contains("unknown waPC operation"), "{v}");
    }
}
