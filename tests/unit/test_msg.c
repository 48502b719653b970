/*
 * test_msg.c - unit tests of the wire codec (topics/dx_msg.c).
 *
 * Every message has a canonical fixture: a literal JSON payload "as written
 * by dx_<type>_encode" from the struct the *_full() builder below returns;
 * the tests check that the struct encodes to exactly those bytes and that
 * the bytes decode back to the struct.  Hostile payloads are derived from
 * the fixtures by tables (replace or delete one field, by path) and by
 * generic loops over every decoder (truncation, size, depth, random bytes),
 * each with the exact error code expected.  Fixtures are written with '
 * for " to stay readable: cc_sq() turns every ' into " before use.  Decoders
 * are always fed an exact-size heap copy without a NUL, so ASan catches
 * any read past `len` (codec_check.h, shared with test_dfs_msg.c).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec_check.h"
#include "dx_msg.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define OK 0

/* ---- one generic view of every codec ---- */

#define ADAPT(type)                                                           \
    static int dec_##type(const char *b, size_t l, void *o, dx_diag *d)      \
    {                                                                         \
        return dx_##type##_decode(b, l, o, d);                               \
    }                                                                         \
    static int enc_##type(const void *m, char *b, size_t c, size_t *l)       \
    {                                                                         \
        return dx_##type##_encode(m, b, c, l);                               \
    }
ADAPT(msg_state)
ADAPT(msg_heartbeat)
ADAPT(msg_election)
ADAPT(msg_leader)
ADAPT(msg_cmd)
ADAPT(msg_event)
ADAPT(msg_reply)
ADAPT(task_spec)
ADAPT(task_record)
ADAPT(msg_assign)
ADAPT(msg_reading)
ADAPT(msg_actuator)
ADAPT(msg_members)
ADAPT(msg_report)
ADAPT(msg_request)

typedef struct codec {
    const char *name;
    size_t size;
    cc_dec_fn dec;
    cc_enc_fn enc;
    const char *fixture; /* canonical payload, ' for " */
} codec;

enum { STATE, HB, ELECT, LEADER, CMD, EVENT, REPLY, SPEC, RECORD, ASSIGN,
       READING, ACTUATOR, MEMBERS, REPORT, REQUEST, N_CODECS };

/* As written by dx_msg_state_encode(state_full()). */
#define FX_STATE "{'v':1,'id':3,'name':'press-3','state':'online','epoch':7," \
                 "'pool_kb':65536,'heartbeat_ms':250,'devices':['temp1','valve2']}"
/* As written by dx_msg_state_encode for the will of node 3. */
#define FX_WILL "{'v':1,'id':3,'state':'offline','epoch':7,'reason':'crash'}"
/* As written by an older agent, and by dx_msg_heartbeat_encode when
 * draining is false and workers 0. */
#define FX_HB_OLD "{'v':1,'id':3,'epoch':7,'seq':42,'leader':3,'term':2,'load':" \
                  "{'cpu':12,'mem_free_kb':60000,'mem_largest_kb':50000,"        \
                  "'running':1,'queued':2,'disk_free_kb':1048576},'rejected':0}"
/* As written by dx_msg_heartbeat_encode(heartbeat_full()). */
#define FX_HB "{'v':1,'id':3,'epoch':7,'seq':42,'leader':3,'term':2,'load':" \
              "{'cpu':12,'mem_free_kb':60000,'mem_largest_kb':50000,"        \
              "'running':1,'queued':2,'disk_free_kb':1048576},'rejected':0," \
              "'draining':true,'workers':4}"
/* As written by dx_msg_election_encode(election_full()). */
#define FX_ELECT "{'v':1,'type':'election','from':2,'to':3,'term':2,'epoch':5}"
/* As written by dx_msg_leader_encode(leader_full()). */
#define FX_LEADER "{'v':1,'leader':3,'term':2,'epoch':7}"
/* As written by dx_msg_cmd_encode(cmd_full()). */
#define FX_CMD "{'v':1,'cmd':'fail','for_ms':5000," \
               "'reply_to':'distribux/plant/reply/cli-1','corr':'c-17'}"
/* As written by dx_msg_event_encode(event_full()). */
#define FX_EVENT "{'v':1,'node':3,'kind':'leader_elected','subject':3,'term':2," \
                 "'ts_ms':1732700000000,'text':'[Leader Election] Leader is Node 3'}"
/* As written by dx_msg_reply_encode(reply_full()). */
#define FX_REPLY "{'v':1,'corr':'c-17','ok':false,'node':3," \
                 "'error':'no node has 2048 kB free','id':'t1'}"
/* As written by dx_task_spec_encode(spec_full()). */
#define FX_SPEC "{'v':1,'id':'t1','kind':'actuator.set','ms':50,'mem_kb':1024," \
                "'node':2,'every_ms':1000,'device':'valve2','value':1.5,"       \
                "'reply_to':'distribux/plant/reply/cli-1','corr':'c-17'}"
/* As written by dx_task_record_encode(record_full()). */
#define FX_RECORD "{'v':1,'id':'t1','state':'done','node':2,'attempt':1,"     \
                  "'term':2,'submitted_ms':1732700000000,"                     \
                  "'started_ms':1732700000100,'finished_ms':1732700000150,"    \
                  "'result':'ok','runs':1,'spec':{'kind':'compute','ms':50,"   \
                  "'mem_kb':1024,'device':'temp1','value':1.5}}"
/* As written by dx_msg_assign_encode(assign_full()). */
#define FX_ASSIGN "{'v':1,'term':2,'leader':3,'items':[{'op':'run',"           \
                  "'attempt':1,'id':'t1','spec':{'kind':'compute','ms':50,"    \
                  "'mem_kb':1024,'device':'temp1','value':-0.25},"             \
                  "'reply_to':'distribux/plant/reply/cli-1','corr':'c-17'},"   \
                  "{'op':'cancel','id':'t2'},{'op':'ack','attempt':2,'id':'t3'}]}"
/* As written by dx_msg_reading_encode(reading_full()); unit is "°C". */
#define FX_READING "{'v':1,'value':21.5,'unit':'\xc2\xb0" "C','seq':12," \
                   "'ts_ms':1732700000000}"
/* As written by dx_msg_actuator_encode(actuator_full()). */
#define FX_ACTUATOR "{'v':1,'value':0.1,'ts_ms':1732700000000," \
                    "'reply_to':'distribux/plant/reply/cli-1','corr':'c-9'}"
/* As written by dx_msg_members_encode(members_full()). */
#define FX_MEMBERS "{'v':1,'leader':3,'term':2,'ts_ms':1732700000000,'nodes':[" \
                   "{'id':1,'name':'node-1','state':'failed','why':'will',"     \
                   "'epoch':4,'since_ms':1732699990000},{'id':3,"              \
                   "'name':'press-3','state':'online','epoch':7,"              \
                   "'since_ms':1732699000000}]}"
/* As written by dx_msg_report_encode(report_full()). */
#define FX_REPORT "{'v':1,'node':2,'term':3,'sync':true,'last':true,'items':[" \
                  "{'id':'t1','attempt':1,'state':'done',"                       \
                  "'started_ms':1732700000100,'finished_ms':1732700000150,"      \
                  "'runs':1,'result':'ok'},"                                     \
                  "{'id':'t2','attempt':2,'state':'queued'}]}"
/* As written by dx_msg_request_encode(request_full()). */
#define FX_REQUEST "{'v':1,'reply_to':'distribux/plant/reply/cli-1','corr':'c-17'}"

static const codec codecs[N_CODECS] = {
    {"state", sizeof(dx_msg_state), dec_msg_state, enc_msg_state, FX_STATE},
    {"heartbeat", sizeof(dx_msg_heartbeat), dec_msg_heartbeat, enc_msg_heartbeat, FX_HB},
    {"election", sizeof(dx_msg_election), dec_msg_election, enc_msg_election, FX_ELECT},
    {"leader", sizeof(dx_msg_leader), dec_msg_leader, enc_msg_leader, FX_LEADER},
    {"cmd", sizeof(dx_msg_cmd), dec_msg_cmd, enc_msg_cmd, FX_CMD},
    {"event", sizeof(dx_msg_event), dec_msg_event, enc_msg_event, FX_EVENT},
    {"reply", sizeof(dx_msg_reply), dec_msg_reply, enc_msg_reply, FX_REPLY},
    {"task_spec", sizeof(dx_task_spec), dec_task_spec, enc_task_spec, FX_SPEC},
    {"task_record", sizeof(dx_task_record), dec_task_record, enc_task_record, FX_RECORD},
    {"assign", sizeof(dx_msg_assign), dec_msg_assign, enc_msg_assign, FX_ASSIGN},
    {"reading", sizeof(dx_msg_reading), dec_msg_reading, enc_msg_reading, FX_READING},
    {"actuator", sizeof(dx_msg_actuator), dec_msg_actuator, enc_msg_actuator, FX_ACTUATOR},
    {"members", sizeof(dx_msg_members), dec_msg_members, enc_msg_members, FX_MEMBERS},
    {"report", sizeof(dx_msg_report), dec_msg_report, enc_msg_report, FX_REPORT},
    {"request", sizeof(dx_msg_request), dec_msg_request, enc_msg_request, FX_REQUEST},
};

/* ---- helpers ---- */
static char enc_buf[DX_PAYLOAD_MAX + 1];

#define CC_CODECS
#include "codec_check.h"

/* Index just past the JSON value starting at s[i]. */
static size_t value_end(const char *s, size_t i)
{
    int depth = 0;
    bool in_str = false;

    for (; s[i] != '\0'; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"' && (in_str = false, depth == 0))
                return i + 1;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i;
            if (--depth == 0)
                return i + 1;
        } else if (ch == ',' && depth == 0) {
            return i;
        }
    }
    return i;
}

/*
 * A malloc'd copy of the canonical JSON `dq` with the value at `path`
 * replaced by `value_sq` (' for "), or the member deleted when value_sq is
 * NULL.  A path names keys in the order they appear ("items.spec.ms" is the
 * first "ms" after the first "spec" after "items"); a number indexes the
 * array at that point ("devices.1").
 */
static char *mutate(const char *dq, const char *path, const char *value_sq)
{
    char comp[64], *val = value_sq != NULL ? cc_sq(value_sq) : strdup("");
    size_t pos = 0, key_at = 0, start, end, plen = strlen(path);
    char *out;

    for (size_t a = 0; a < plen;) {
        size_t b = strcspn(path + a, ".");
        snprintf(comp, sizeof comp, "%.*s", (int)b, path + a);
        if (comp[0] >= '0' && comp[0] <= '9') {
            assert_int_equal(dq[pos], '[');
            pos++;
            for (long k = strtol(comp, NULL, 10); k > 0; k--)
                pos = value_end(dq, pos) + 1;
            key_at = pos;
        } else {
            char key[80];
            const char *hit;
            snprintf(key, sizeof key, "\"%s\":", comp);
            hit = strstr(dq + pos, key);
            if (hit == NULL)
                fail_msg("no '%s' in %s", path, dq);
            key_at = (size_t)(hit - dq);
            pos = key_at + strlen(key);
        }
        a += b + (path[a + b] == '.');
    }
    start = value_sq != NULL ? pos : key_at;
    end = value_end(dq, pos);
    if (value_sq == NULL) { /* drop one comma beside the member */
        if (start > 0 && dq[start - 1] == ',')
            start--;
        else if (dq[end] == ',')
            end++;
    }
    out = malloc(strlen(dq) + strlen(val) + 1);
    assert_non_null(out);
    sprintf(out, "%.*s%s%s", (int)start, dq, val, dq + end);
    free(val);
    return out;
}

/* Decodes the fixture of c with one change; returns the code. */
static int dec_mut(int c, const char *path, const char *value_sq)
{
    char *fx = cc_sq(codecs[c].fixture);
    char *s = mutate(fx, path, value_sq);
    int rc = dec_raw(c, s, strlen(s), NULL);

    free(fx);
    free(s);
    return rc;
}

static void check_mut(int c, const char *path, const char *value_sq, int err)
{
    int rc = dec_mut(c, path, value_sq);
    if (rc != err)
        fail_msg("%s: %s=%s -> %s, expected %s", codecs[c].name, path,
                 value_sq != NULL ? value_sq : "(deleted)", dx_strerror(rc),
                 dx_strerror(err));
}
#define assert_mut(c, path, val, err) check_mut(c, path, val, err)

/* Encodes m; checks ENOSPACE below the size, the NUL, and re-decoding. */
static size_t enc_ok(int c, const void *m)
{
    size_t len = 99, n = 0;
    int rc = codecs[c].enc(m, enc_buf, sizeof enc_buf, &len);
    char small[1];

    if (rc != OK)
        fail_msg("%s: encode -> %s", codecs[c].name, dx_strerror(rc));
    assert_int_equal(strlen(enc_buf), len);
    for (size_t cap = 0; cap <= len; cap += len / 300 + 1) {
        char *b = malloc(cap > 0 ? cap : 1);
        assert_int_equal(codecs[c].enc(m, b, cap, &n), DX_ENOSPACE);
        assert_int_equal(n, 0);
        if (cap > 0)
            assert_int_equal(b[0], '\0');
        free(b);
    }
    assert_int_equal(codecs[c].enc(m, small, 0, &n), DX_ENOSPACE);
    return len;
}

/* The full round trip: struct -> JSON -> equal struct -> same JSON. */
static void roundtrip(int c, const void *m)
{
    size_t len = enc_ok(c, m), len2;
    char *first = strdup(enc_buf);
    void *back = malloc(codecs[c].size);

    assert_int_equal(dec_raw(c, first, len, back), OK);
    assert_memory_equal(back, m, codecs[c].size);
    assert_int_equal(codecs[c].enc(back, enc_buf, sizeof enc_buf, &len2), OK);
    assert_string_equal(enc_buf, first);
    free(first);
    free(back);
}

/* The fixture decodes to *m, and *m encodes to exactly the fixture. */
static void fixture_is(int c, const char *sq, const void *m)
{
    char *want = cc_sq(sq);
    void *got = malloc(codecs[c].size);
    size_t len;

    assert_int_equal(dec_raw(c, want, strlen(want), got), OK);
    assert_memory_equal(got, m, codecs[c].size);
    assert_int_equal(codecs[c].enc(m, enc_buf, sizeof enc_buf, &len), OK);
    assert_string_equal(enc_buf, want);
    free(want);
    free(got);
}

static void fill(char *dst, size_t n, char ch)
{
    memset(dst, ch, n);
    dst[n] = '\0';
}

/* ---- the full structs behind the fixtures ---- */
static void state_full(dx_msg_state *m)
{
    memset(m, 0, sizeof *m);
    m->id = 3;
    strcpy(m->name, "press-3");
    m->state = DX_WIRE_ONLINE;
    m->epoch = 7;
    m->pool_kb = 65536;
    m->heartbeat_ms = 250;
    m->n_devices = 2;
    strcpy(m->devices[0], "temp1");
    strcpy(m->devices[1], "valve2");
}

static void will_full(dx_msg_state *m)
{
    memset(m, 0, sizeof *m);
    m->id = 3;
    m->state = DX_WIRE_OFFLINE;
    m->epoch = 7;
    strcpy(m->reason, "crash");
}

/* Field by field: a compound literal would leave the padding unspecified,
 * and the tests compare structs byte for byte. */
static void set_load(dx_load *l, uint32_t cpu, uint64_t mem_free,
                     uint64_t largest, uint32_t running, uint32_t queued,
                     uint64_t disk)
{
    l->cpu_pct = cpu;
    l->mem_free_kb = mem_free;
    l->mem_largest_kb = largest;
    l->running = running;
    l->queued = queued;
    l->disk_free_kb = disk;
}

static void heartbeat_full(dx_msg_heartbeat *m)
{
    memset(m, 0, sizeof *m);
    m->id = 3;
    m->epoch = 7;
    m->seq = 42;
    m->leader = 3;
    m->term = 2;
    set_load(&m->load, 12, 60000, 50000, 1, 2, 1048576);
    m->draining = true;
    m->workers = 4;
}

static void election_full(dx_msg_election *m)
{
    memset(m, 0, sizeof *m);
    m->type = DX_ELECT_ELECTION;
    m->from = 2;
    m->to = 3;
    m->term = 2;
    m->epoch = 5;
}

static void leader_full(dx_msg_leader *m)
{
    memset(m, 0, sizeof *m);
    m->leader = 3;
    m->term = 2;
    m->epoch = 7;
}

static void cmd_full(dx_msg_cmd *m)
{
    memset(m, 0, sizeof *m);
    m->cmd = DX_CMD_FAIL;
    m->for_ms = 5000;
    strcpy(m->reply_to, "distribux/plant/reply/cli-1");
    strcpy(m->corr, "c-17");
}

static void event_full(dx_msg_event *m)
{
    memset(m, 0, sizeof *m);
    m->node = 3;
    strcpy(m->kind, "leader_elected");
    m->subject = 3;
    m->term = 2;
    m->ts_ms = 1732700000000;
    strcpy(m->text, "[Leader Election] Leader is Node 3");
}

static void reply_full(dx_msg_reply *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->corr, "c-17");
    m->ok = false;
    m->node = 3;
    strcpy(m->error, "no node has 2048 kB free");
    strcpy(m->id, "t1");
}

static void spec_full(dx_task_spec *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->id, "t1");
    m->kind = DX_TASK_ACTUATOR_SET;
    m->ms = 50;
    m->mem_kb = 1024;
    m->node = 2;
    m->every_ms = 1000;
    strcpy(m->device, "valve2");
    m->value = 1.5;
    m->has_value = true;
    strcpy(m->reply_to, "distribux/plant/reply/cli-1");
    strcpy(m->corr, "c-17");
}

static void record_full(dx_task_record *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->spec.id, "t1");
    m->spec.kind = DX_TASK_COMPUTE;
    m->spec.ms = 50;
    m->spec.mem_kb = 1024;
    strcpy(m->spec.device, "temp1");
    m->spec.value = 1.5;
    m->spec.has_value = true;
    m->state = DX_TS_DONE;
    m->node = 2;
    m->attempt = 1;
    m->term = 2;
    m->submitted_ms = 1732700000000;
    m->started_ms = 1732700000100;
    m->finished_ms = 1732700000150;
    strcpy(m->result, "ok");
    m->runs = 1;
}

static void assign_full(dx_msg_assign *m)
{
    memset(m, 0, sizeof *m);
    m->term = 2;
    m->leader = 3;
    m->n = 2;
    m->items[0].op = DX_ASSIGN_RUN;
    m->items[0].attempt = 1;
    strcpy(m->items[0].spec.id, "t1");
    m->items[0].spec.kind = DX_TASK_COMPUTE;
    m->items[0].spec.ms = 50;
    m->items[0].spec.mem_kb = 1024;
    strcpy(m->items[0].spec.device, "temp1");
    m->items[0].spec.value = -0.25;
    m->items[0].spec.has_value = true;
    strcpy(m->items[0].spec.reply_to, "distribux/plant/reply/cli-1");
    strcpy(m->items[0].spec.corr, "c-17");
    m->items[1].op = DX_ASSIGN_CANCEL;
    strcpy(m->items[1].spec.id, "t2");
    m->n = 3;
    m->items[2].op = DX_ASSIGN_ACK;
    m->items[2].attempt = 2;
    strcpy(m->items[2].spec.id, "t3");
}

static void reading_full(dx_msg_reading *m)
{
    memset(m, 0, sizeof *m);
    m->value = 21.5;
    strcpy(m->unit, "\xc2\xb0" "C");
    m->seq = 12;
    m->ts_ms = 1732700000000;
}

static void actuator_full(dx_msg_actuator *m)
{
    memset(m, 0, sizeof *m);
    m->value = 0.1;
    m->ts_ms = 1732700000000;
    strcpy(m->reply_to, "distribux/plant/reply/cli-1");
    strcpy(m->corr, "c-9");
}

static void members_full(dx_msg_members *m)
{
    memset(m, 0, sizeof *m);
    m->leader = 3;
    m->term = 2;
    m->ts_ms = 1732700000000;
    m->n = 2;
    m->nodes[0].id = 1;
    strcpy(m->nodes[0].name, "node-1");
    m->nodes[0].state = DX_VIEW_FAILED;
    m->nodes[0].why = DX_VIEW_WHY_WILL;
    m->nodes[0].epoch = 4;
    m->nodes[0].since_ms = 1732699990000;
    m->nodes[1].id = 3;
    strcpy(m->nodes[1].name, "press-3");
    m->nodes[1].state = DX_VIEW_ONLINE;
    m->nodes[1].epoch = 7;
    m->nodes[1].since_ms = 1732699000000;
}

static void report_full(dx_msg_report *m)
{
    memset(m, 0, sizeof *m);
    m->node = 2;
    m->term = 3;
    m->sync = true;
    m->last = true;
    m->n = 2;
    strcpy(m->items[0].id, "t1");
    m->items[0].attempt = 1;
    m->items[0].state = DX_REP_DONE;
    m->items[0].started_ms = 1732700000100;
    m->items[0].finished_ms = 1732700000150;
    m->items[0].runs = 1;
    strcpy(m->items[0].result, "ok");
    strcpy(m->items[1].id, "t2");
    m->items[1].attempt = 2;
    m->items[1].state = DX_REP_QUEUED;
}

static void request_full(dx_msg_request *m)
{
    memset(m, 0, sizeof *m);
    strcpy(m->reply_to, "distribux/plant/reply/cli-1");
    strcpy(m->corr, "c-17");
}

/* Every struct above, by codec, in one scratch union. */
typedef union any_msg {
    dx_msg_state state;
    dx_msg_heartbeat hb;
    dx_msg_election elect;
    dx_msg_leader leader;
    dx_msg_cmd cmd;
    dx_msg_event event;
    dx_msg_reply reply;
    dx_task_spec spec;
    dx_task_record record;
    dx_msg_assign assign;
    dx_msg_reading reading;
    dx_msg_actuator act;
    dx_msg_members members;
    dx_msg_report report;
    dx_msg_request request;
} any_msg;

static any_msg *full(int c)
{
    static any_msg m;
    switch (c) {
    case STATE: state_full(&m.state); break;
    case HB: heartbeat_full(&m.hb); break;
    case ELECT: election_full(&m.elect); break;
    case LEADER: leader_full(&m.leader); break;
    case CMD: cmd_full(&m.cmd); break;
    case EVENT: event_full(&m.event); break;
    case REPLY: reply_full(&m.reply); break;
    case SPEC: spec_full(&m.spec); break;
    case RECORD: record_full(&m.record); break;
    case ASSIGN: assign_full(&m.assign); break;
    case READING: reading_full(&m.reading); break;
    case ACTUATOR: actuator_full(&m.act); break;
    case MEMBERS: members_full(&m.members); break;
    case REPORT: report_full(&m.report); break;
    default: request_full(&m.request); break;
    }
    return &m;
}

/* ---- fixtures and round trips ---- */
static void test_fixtures(void **state)
{
    dx_msg_state will;

    for (int c = 0; c < N_CODECS; c++)
        fixture_is(c, codecs[c].fixture, full(c));
    will_full(&will);
    fixture_is(STATE, FX_WILL, &will);
}

static void test_roundtrip_full(void **state)
{
    for (int c = 0; c < N_CODECS; c++)
        roundtrip(c, full(c));
}

/* Every string at its longest, with the characters that need escaping. */
static void test_roundtrip_extremes(void **state)
{
    any_msg *m;
    const char *nasty = "quote \" backslash \\ slash / caf\xc3\xa9 \xe2\x82\xac";

    m = full(STATE);
    fill(m->state.name, DX_NAME_MAX, 'n');
    fill(m->state.reason, DX_REASON_MAX, 'r');
    m->state.n_devices = DX_DEVICES_MAX;
    for (int i = 0; i < DX_DEVICES_MAX; i++) {
        fill(m->state.devices[i], DX_NAME_MAX, '-');
        m->state.devices[i][0] = (char)('a' + i);
    }
    m->state.epoch = (uint64_t)DX_INT_MAX;
    m->state.pool_kb = (uint64_t)DX_INT_MAX;
    m->state.heartbeat_ms = 3600000;
    m->state.id = 65535;
    roundtrip(STATE, m);

    m = full(HB);
    m->hb.seq = m->hb.epoch = m->hb.term = m->hb.rejected = (uint64_t)DX_INT_MAX;
    set_load(&m->hb.load, 100, (uint64_t)DX_INT_MAX, (uint64_t)DX_INT_MAX,
             UINT32_MAX, UINT32_MAX, (uint64_t)DX_INT_MAX);
    roundtrip(HB, m);
    m->hb.leader = 0;
    m->hb.term = 0;
    set_load(&m->hb.load, 0, 0, 0, 0, 0, 0);
    roundtrip(HB, m);

    m = full(EVENT);
    snprintf(m->event.text, sizeof m->event.text, "%s", nasty);
    roundtrip(EVENT, m);
    memset(m->event.text, 'x', DX_TEXT_MAX);
    roundtrip(EVENT, m);

    m = full(CMD);
    fill(m->cmd.reply_to, DX_TOPIC_MAX, '"');
    fill(m->cmd.corr, DX_CORR_MAX, '\\');
    roundtrip(CMD, m);

    /* doubles come back bit for bit: fixed edge values, then random bits */
    m = full(READING);
    {
        static const double edges[] = {0.0, -0.0, 0.1, 1.0 / 3, 1e21, 1e-7,
                                       4.9406564584124654e-324, 1.7976931348623157e308,
                                       -2.2250738585072014e-308, 9007199254740993.0};
        uint64_t x = 88172645463325252u;
        for (size_t i = 0; i < COUNT(edges); i++) {
            m->reading.value = edges[i];
            roundtrip(READING, m);
        }
        for (int i = 0; i < 2000; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            memcpy(&m->reading.value, &x, sizeof x);
            if (isfinite(m->reading.value))
                roundtrip(READING, m);
        }
    }
}

/* The largest assign there can be still fits DX_PAYLOAD_MAX. */
static void test_roundtrip_max_assign(void **state)
{
    any_msg *m = full(ASSIGN);
    size_t len;

    m->assign.n = DX_ASSIGN_MAX;
    for (size_t i = 0; i < DX_ASSIGN_MAX; i++) {
        dx_assign_item *it = &m->assign.items[i];
        memset(it, 0, sizeof *it);
        it->op = DX_ASSIGN_RELEASE;
        it->attempt = UINT32_MAX;
        snprintf(it->spec.id, sizeof it->spec.id, "%0*zu", DX_TASK_ID_MAX, i);
        it->spec.kind = DX_TASK_ACTUATOR_SET;
        it->spec.ms = it->spec.every_ms = 86400000;
        it->spec.mem_kb = 16777216;
        it->spec.node = 65535;
        fill(it->spec.device, DX_NAME_MAX, 'd');
        it->spec.value = -2.2250738585072014e-308;
        it->spec.has_value = true;
        fill(it->spec.reply_to, DX_TOPIC_MAX, '"');
        fill(it->spec.corr, DX_CORR_MAX, '\\');
    }
    roundtrip(ASSIGN, m);
    len = strlen(enc_buf);
    print_message("largest assign: %zu bytes of %d\n", len, DX_PAYLOAD_MAX);
    assert_true(len <= DX_PAYLOAD_MAX);
}

/* The largest membership view fits too. */
static void test_roundtrip_max_members(void **state)
{
    any_msg *m = full(MEMBERS);

    m->members.leader = 65535;
    m->members.term = (uint64_t)DX_INT_MAX;
    m->members.ts_ms = DX_INT_MAX;
    m->members.n = DX_VIEW_MAX;
    for (size_t i = 0; i < DX_VIEW_MAX; i++) {
        dx_view_node *v = &m->members.nodes[i];
        memset(v, 0, sizeof *v);
        v->id = (uint16_t)(65535 - i);
        fill(v->name, DX_NAME_MAX, 'n');
        v->state = DX_VIEW_OFFLINE;
        v->why = DX_VIEW_WHY_SHUTDOWN;
        v->epoch = (uint64_t)DX_INT_MAX;
        v->since_ms = DX_INT_MAX;
    }
    roundtrip(MEMBERS, m);
    print_message("largest members: %zu bytes of %d\n", strlen(enc_buf),
                  DX_PAYLOAD_MAX);
    m->members.n = 0;
    memset(m->members.nodes, 0, sizeof m->members.nodes);
    roundtrip(MEMBERS, m);
}

/* The largest report: 64 items at every limit fit DX_PAYLOAD_MAX while the
 * results need no escaping; results full of quotes do not, and the encoder
 * refuses (DX_ETOOBIG): such a batch must be sent in parts. */
static void test_roundtrip_max_report(void **state)
{
    any_msg *m = full(REPORT);
    size_t len, n;

    m->report.node = 65535;
    m->report.term = (uint64_t)DX_INT_MAX;
    m->report.n = DX_REPORT_MAX;
    for (size_t i = 0; i < DX_REPORT_MAX; i++) {
        dx_report_item *it = &m->report.items[i];
        memset(it, 0, sizeof *it);
        snprintf(it->id, sizeof it->id, "%0*zu", DX_TASK_ID_MAX, i);
        it->attempt = UINT32_MAX;
        it->state = DX_REP_CANCELLED;
        it->started_ms = it->finished_ms = DX_INT_MAX;
        it->runs = (uint64_t)DX_INT_MAX;
        fill(it->result, DX_TEXT_MAX, 'r');
    }
    roundtrip(REPORT, m);
    len = strlen(enc_buf);
    print_message("largest report, plain results: %zu bytes of %d\n", len,
                  DX_PAYLOAD_MAX);
    assert_true(len <= DX_PAYLOAD_MAX);
    for (size_t i = 0; i < DX_REPORT_MAX; i++)
        fill(m->report.items[i].result, DX_TEXT_MAX, '"');
    assert_enc(REPORT, m, DX_ETOOBIG);
    while (m->report.n > 1 &&
           dx_msg_report_encode(&m->report, enc_buf, sizeof enc_buf, &n) != OK)
        m->report.n--;
    print_message("largest report, results of 512 quotes: %zu items, %zu bytes\n",
                  m->report.n, n);
    assert_true(m->report.n >= DX_REPORT_MAX / 2);
    memset(&m->report.items[m->report.n], 0,
           (DX_REPORT_MAX - m->report.n) * sizeof m->report.items[0]);
    roundtrip(REPORT, m);
}

/* ---- "v", JSON shape and size, for every decoder ---- */
static void test_version(void **state)
{
    for (int c = 0; c < N_CODECS; c++) {
        assert_mut(c, "v", NULL, DX_EVERSION);
        assert_mut(c, "v", "2", DX_EVERSION);
        assert_mut(c, "v", "0", DX_EVERSION);
        assert_mut(c, "v", "'1'", DX_EVERSION);
        assert_mut(c, "v", "null", DX_EVERSION);
        assert_mut(c, "v", "true", DX_EVERSION);
        assert_mut(c, "v", "1.5", DX_EVERSION);
        assert_mut(c, "v", "1.0", OK);
        assert_mut(c, "v", "1e0", OK);
    }
}

static void test_not_an_object(void **state)
{
    static const char *const bad[] = {
        "", " ", "[]", "[{'v':1}]", "1", "'v'", "null", "true", "{",
        "}", "{'v':1", "{'v':}", "{'v' 1}", "{v:1}", "{'v':1,}", "{'v':01x}",
        "{'v':1}}", "{'v':1} x", "{'v':1}{}", "{'v':1}\x01", "\xef\xbb",
        "{'v':1,'a':'\\x'}", "{'v':1,'a':'\\ud800'}", "{'v':NaN}",
        "{'v':Infinity}", "{'v':-}",
    };
    for (int c = 0; c < N_CODECS; c++) {
        for (size_t i = 0; i < COUNT(bad); i++)
            assert_dec(c, bad[i], DX_EJSON);
        assert_int_equal(dec_raw(c, "{\"v\":1}\0", 8, NULL), DX_EJSON);
        assert_int_equal(dec_raw(c, "\0", 1, NULL), DX_EJSON);
    }
}

/* Every proper prefix of every fixture is malformed JSON. */
static void test_truncated(void **state)
{
    for (int c = 0; c < N_CODECS; c++) {
        char *fx = cc_sq(codecs[c].fixture);
        size_t n = strlen(fx);
        for (size_t len = 0; len < n; len++)
            if (dec_raw(c, fx, len, NULL) != DX_EJSON)
                fail_msg("%s: prefix of %zu bytes accepted", codecs[c].name, len);
        assert_int_equal(dec_raw(c, fx, n, NULL), OK);
        free(fx);
    }
}

/* Padded to the limit the fixture passes; one byte more and it does not. */
static void test_payload_limit(void **state)
{
    char *big = malloc(DX_PAYLOAD_MAX + 2);

    for (int c = 0; c < N_CODECS; c++) {
        char *fx = cc_sq(codecs[c].fixture);
        size_t n = strlen(fx);
        big[0] = '{';
        memset(big + 1, ' ', DX_PAYLOAD_MAX + 1 - n);
        memcpy(big + DX_PAYLOAD_MAX + 1 - n, fx + 1, n - 1);
        assert_int_equal(dec_raw(c, big, DX_PAYLOAD_MAX, NULL), OK);
        memmove(big + 1, big, DX_PAYLOAD_MAX);
        big[0] = ' ';
        assert_int_equal(dec_raw(c, big, DX_PAYLOAD_MAX + 1, NULL), DX_ETOOBIG);
        free(fx);
    }
    free(big);
}

/* A fixture with `extra` inserted after its opening brace. */
static int dec_with(int c, const char *extra, size_t extra_len)
{
    char *fx = cc_sq(codecs[c].fixture);
    size_t n = strlen(fx), len = n + extra_len;
    char *s = malloc(len);
    int rc;

    s[0] = '{';
    memcpy(s + 1, extra, extra_len);
    memcpy(s + 1 + extra_len, fx + 1, n - 1);
    rc = dec_raw(c, s, len, NULL);
    free(s);
    free(fx);
    return rc;
}

#define DEC_WITH(c, lit) dec_with(c, lit, sizeof lit - 1)

static void test_depth(void **state)
{
    size_t deep = 10000;
    char *s = malloc(deep * 6 + 16);

    for (int c = 0; c < N_CODECS; c++) {
        /* nesting 10,000 deep, alone or inside a valid message */
        memset(s, '[', deep);
        memset(s + deep, ']', deep);
        assert_int_equal(dec_raw(c, s, 2 * deep, NULL), DX_EDEPTH);
        for (size_t i = 0; i < deep; i++)
            memcpy(s + 5 * i, "{\"a\":", 5);
        assert_int_equal(dec_raw(c, s, 5 * deep, NULL), DX_EDEPTH);
        assert_int_equal(DEC_WITH(c, "\"x\":[[[[[[[[[[[[[[[[[[[[[[[["), DX_EDEPTH);
        /* the top object plus 7 levels is the limit: 8 passes, 9 does not */
        assert_int_equal(DEC_WITH(c, "\"x\":[[{\"a\":[[[[1]]]]}]],"), OK);
        assert_int_equal(DEC_WITH(c, "\"x\":[[{\"a\":[[[[[1]]]]]}]],"), DX_EDEPTH);
        /* brackets inside strings do not count */
        assert_int_equal(DEC_WITH(c, "\"x\":\"[[[[[[[[[[[[[\\\"[[[[{{{{\","), OK);
    }
    free(s);
}

static void test_depth_scan(void **state)
{
    char unterminated[] = {'[', '"', 'a', '\\'}; /* no NUL: must not read on */

    assert_true(dx_json_depth_ok("", 0, 0));
    assert_true(dx_json_depth_ok(NULL, 0, 8));
    assert_false(dx_json_depth_ok(NULL, 1, 8));
    assert_true(dx_json_depth_ok("1", 1, 0));
    assert_false(dx_json_depth_ok("[]", 2, 0));
    assert_true(dx_json_depth_ok("[]", 2, 1));
    assert_true(dx_json_depth_ok("[][][]", 6, 1));
    assert_false(dx_json_depth_ok("[[]]", 4, 1));
    assert_true(dx_json_depth_ok("{\"a\":{\"b\":[1]}}", 15, 3));
    assert_false(dx_json_depth_ok("{\"a\":{\"b\":[1]}}", 15, 2));
    /* strings, escaped quotes and escaped backslashes */
    assert_true(dx_json_depth_ok("[\"[[[[{{{{\"]", 12, 1));
    assert_true(dx_json_depth_ok("[\"\\\"[[[[\"]", 10, 1));
    assert_false(dx_json_depth_ok("[\"\\\\\",[[]]]", 11, 2));
    assert_true(dx_json_depth_ok("[\"\\\\\",[[]]]", 11, 3));
    assert_true(dx_json_depth_ok("[\"\\\\\\\"[[\"]", 10, 1));
    /* len, not the NUL, ends the input */
    assert_true(dx_json_depth_ok("[[[[", 1, 1));
    assert_true(dx_json_depth_ok(unterminated, sizeof unterminated, 1));
    assert_false(dx_json_depth_ok(unterminated, 1, 0));
    /* closers without openers never go below zero */
    assert_true(dx_json_depth_ok("]]]]}}}}[", 9, 1));
    assert_false(dx_json_depth_ok("]]]][[", 6, 1));
}

/* Bytes no decoder may accept: the result is exactly predictable. */
static void test_random_bytes(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    unsigned char buf[300];

    for (int round = 0; round < 3000; round++) {
        size_t len = 1 + (size_t)(x % sizeof buf);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (unsigned char)(x >> 24);
        }
        if (strchr("{ \t\r\n", buf[0]) != NULL && buf[0] != '\0')
            buf[0] = 'x';
        for (int c = 0; c < N_CODECS; c++)
            assert_int_equal(dec_raw(c, (char *)buf, len, NULL),
                             dx_json_depth_ok((char *)buf, len, DX_JSON_DEPTH_MAX)
                                 ? DX_EJSON : DX_EDEPTH);
    }
}

static void test_strings_raw(void **state)
{
    for (int c = 0; c < N_CODECS; c++) {
        /* unknown fields are ignored, even with a \u0000 inside */
        assert_int_equal(DEC_WITH(c, "\"zz\":{\"a\":[1,null,{\"b\":\"\\u0000\"}]},"), OK);
        /* a raw control byte in any string is not JSON */
        assert_int_equal(DEC_WITH(c, "\"zz\":\"a\nb\","), DX_EJSON);
        assert_int_equal(DEC_WITH(c, "\"zz\":\"a\tb\","), DX_EJSON);
        assert_int_equal(DEC_WITH(c, "\"z\0\":1,"), DX_EJSON);
    }
    assert_mut(EVENT, "text", "'a\tb'", DX_EJSON);
}

/* ---- fields, table-driven ---- */
typedef struct int_case {
    int c;
    const char *path;
    unsigned long long lo, hi;
    bool req;
} int_case;

static const int_case ints[] = {
    {STATE, "id", 1, 65535, true},
    {STATE, "epoch", 1, DX_INT_MAX, true},
    {STATE, "pool_kb", 1, DX_INT_MAX, false},
    {STATE, "heartbeat_ms", 10, 3600000, false},
    {HB, "id", 1, 65535, true},
    {HB, "epoch", 1, DX_INT_MAX, true},
    {HB, "seq", 1, DX_INT_MAX, true},
    {HB, "leader", 0, 65535, true},
    {HB, "term", 0, DX_INT_MAX, true},
    {HB, "load.cpu", 0, 100, true},
    {HB, "load.mem_free_kb", 50000, DX_INT_MAX, true}, /* >= mem_largest_kb */
    {HB, "load.mem_largest_kb", 0, 60000, true},       /* <= mem_free_kb */
    {HB, "load.running", 0, UINT32_MAX, true},
    {HB, "load.queued", 0, UINT32_MAX, true},
    {HB, "load.disk_free_kb", 0, DX_INT_MAX, true},
    {HB, "rejected", 0, DX_INT_MAX, true},
    {HB, "workers", 1, 4096, false},
    {ELECT, "from", 1, 65535, true},
    {ELECT, "to", 1, 65535, false},
    {ELECT, "term", 0, DX_INT_MAX, true},
    {ELECT, "epoch", 1, DX_INT_MAX, true},
    {LEADER, "leader", 1, 65535, true},
    {LEADER, "term", 1, DX_INT_MAX, true},
    {LEADER, "epoch", 1, DX_INT_MAX, true},
    {CMD, "for_ms", 1, 86400000, false},
    {EVENT, "node", 1, 65535, true},
    {EVENT, "subject", 1, 65535, false},
    {EVENT, "term", 1, DX_INT_MAX, false},
    {EVENT, "ts_ms", 1, DX_INT_MAX, false},
    {REPLY, "node", 1, 65535, false},
    {SPEC, "ms", 1, 86400000, false},
    {SPEC, "mem_kb", 1, 16777216, false},
    {SPEC, "node", 1, 65535, false},
    {SPEC, "every_ms", 10, 86400000, false},
    {RECORD, "node", 1, 65535, false},
    {RECORD, "attempt", 1, UINT32_MAX, false},
    {RECORD, "term", 1, DX_INT_MAX, false},
    {RECORD, "submitted_ms", 1, DX_INT_MAX, false},
    {RECORD, "started_ms", 1, DX_INT_MAX, false},
    {RECORD, "finished_ms", 1, DX_INT_MAX, false},
    {RECORD, "runs", 1, DX_INT_MAX, false},
    {RECORD, "spec.ms", 1, 86400000, false},
    {RECORD, "spec.mem_kb", 1, 16777216, false},
    {ASSIGN, "term", 1, DX_INT_MAX, true},
    {ASSIGN, "leader", 1, 65535, true},
    {ASSIGN, "items.attempt", 1, UINT32_MAX, false},
    {ASSIGN, "items.spec.ms", 1, 86400000, false},
    {ASSIGN, "items.spec.mem_kb", 1, 16777216, false},
    {ASSIGN, "items.2.attempt", 1, UINT32_MAX, false},
    {READING, "seq", 1, DX_INT_MAX, true},
    {READING, "ts_ms", 1, DX_INT_MAX, false},
    {ACTUATOR, "ts_ms", 1, DX_INT_MAX, false},
    {MEMBERS, "leader", 0, 65535, true},
    {MEMBERS, "term", 0, DX_INT_MAX, true},
    {MEMBERS, "ts_ms", 1, DX_INT_MAX, false},
    {MEMBERS, "nodes.id", 1, 65535, true},
    {MEMBERS, "nodes.epoch", 1, DX_INT_MAX, false},
    {MEMBERS, "nodes.since_ms", 1, DX_INT_MAX, false},
    {MEMBERS, "nodes.1.id", 1, 65535, true},
    {REPORT, "node", 1, 65535, true},
    {REPORT, "term", 0, DX_INT_MAX, true},
    {REPORT, "items.attempt", 1, UINT32_MAX, true},
    {REPORT, "items.started_ms", 1, DX_INT_MAX, false},
    {REPORT, "items.finished_ms", 1, DX_INT_MAX, false},
    {REPORT, "items.runs", 1, DX_INT_MAX, false},
    {REPORT, "items.1.attempt", 1, UINT32_MAX, true},
};

static void test_int_fields(void **state)
{
    static const char *const mistyped[] = {"'1'", "true", "[1]", "{}", "'one'"};
    static const char *const out_of_range[] = {"-1", "1.5", "0.5", "-0.5", "1e400",
                                               "-1e400", "1e300", "1e-7"};
    char v[32];

    for (size_t i = 0; i < COUNT(ints); i++) {
        const int_case *t = &ints[i];
        int absent = t->req ? DX_EFIELD : OK;
        unsigned long long probes[] = {0, t->lo, t->lo + 1, t->hi - 1, t->hi};

        assert_mut(t->c, t->path, NULL, absent);
        assert_mut(t->c, t->path, "null", absent);
        for (size_t k = 0; k < COUNT(mistyped); k++)
            assert_mut(t->c, t->path, mistyped[k], DX_EFIELD);
        for (size_t k = 0; k < COUNT(out_of_range); k++)
            assert_mut(t->c, t->path, out_of_range[k], DX_ERANGE);
        for (size_t k = 0; k < COUNT(probes); k++) {
            unsigned long long p = probes[k];
            bool ok = (p >= t->lo && p <= t->hi) || (!t->req && p == 0);
            snprintf(v, sizeof v, "%llu", p);
            assert_mut(t->c, t->path, v, ok ? OK : DX_ERANGE);
        }
        if (t->lo > 1) {
            snprintf(v, sizeof v, "%llu", t->lo - 1);
            assert_mut(t->c, t->path, v, DX_ERANGE);
        }
        snprintf(v, sizeof v, "%llu", t->hi + 1);
        assert_mut(t->c, t->path, v, DX_ERANGE);
        snprintf(v, sizeof v, "%llu.0", t->hi);
        assert_mut(t->c, t->path, v, OK);
        snprintf(v, sizeof v, "%llue0", t->hi);
        assert_mut(t->c, t->path, v, OK);
    }
    assert_mut(STATE, "epoch", "9007199254740993", DX_ERANGE); /* 2^53 + 1 */
    assert_mut(STATE, "epoch", "18446744073709551616", DX_ERANGE);
    assert_mut(STATE, "epoch", "-0", DX_ERANGE);
    assert_mut(STATE, "epoch", "7.000000000000001", DX_ERANGE);
}

typedef struct enum_case {
    int c;
    const char *path;
    const char *names; /* space separated */
    bool req;
} enum_case;

static const enum_case enums[] = {
    {STATE, "state", "online offline", true},
    {ELECT, "type", "election answer coordinator", true},
    {CMD, "cmd", "fail hang recover drain undrain scrub", true},
    {SPEC, "kind", "noop compute sleep sensor.read actuator.set", true},
    {RECORD, "state", "queued assigned running done failed cancelled", true},
    {RECORD, "spec.kind", "noop compute sleep sensor.read actuator.set", true},
    {ASSIGN, "items.op", "run cancel release ack", true},
    {ASSIGN, "items.2.op", "cancel release ack", true}, /* no spec: not run */
    {ASSIGN, "items.spec.kind", "noop compute sleep sensor.read actuator.set", true},
    {MEMBERS, "nodes.state", "online failed offline", true},
    {MEMBERS, "nodes.why", "will timeout shutdown", false},
    {REPORT, "items.state", "queued running done failed cancelled released", true},
    {REPORT, "items.1.state", "queued running done failed cancelled released", true},
};

static void test_enum_fields(void **state)
{
    static const char *const unknown[] = {"'bogus'", "''", "'Online'", "'FAIL'",
                                          "'run '", "'compute\\u0000'"};
    char v[64];

    for (size_t i = 0; i < COUNT(enums); i++) {
        const enum_case *t = &enums[i];
        char names[80], *save = NULL;

        assert_mut(t->c, t->path, NULL, t->req ? DX_EFIELD : OK);
        assert_mut(t->c, t->path, "null", t->req ? DX_EFIELD : OK);
        assert_mut(t->c, t->path, "1", DX_EFIELD);
        assert_mut(t->c, t->path, "['run']", DX_EFIELD);
        for (size_t k = 0; k < COUNT(unknown); k++)
            assert_mut(t->c, t->path, unknown[k], DX_ERANGE);
        snprintf(names, sizeof names, "%s", t->names);
        for (char *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
            snprintf(v, sizeof v, "'%s'", n);
            assert_mut(t->c, t->path, v, OK);
        }
    }
}

typedef enum { S_NAME, S_TASKID, S_TOPIC, S_TEXT } str_kind;

typedef struct str_case {
    int c;
    const char *path;
    str_kind kind;
    size_t max;
    bool req;
} str_case;

static const str_case strs[] = {
    {STATE, "name", S_NAME, DX_NAME_MAX, true}, /* required when online */
    {STATE, "devices.0", S_NAME, DX_NAME_MAX, true},
    {STATE, "devices.1", S_NAME, DX_NAME_MAX, true},
    {CMD, "reply_to", S_TOPIC, DX_TOPIC_MAX, false},
    {CMD, "corr", S_TEXT, DX_CORR_MAX, false},
    {EVENT, "kind", S_NAME, DX_NAME_MAX, true},
    {EVENT, "text", S_TEXT, DX_TEXT_MAX, true},
    {REPLY, "corr", S_TEXT, DX_CORR_MAX, false},
    {REPLY, "error", S_TEXT, DX_TEXT_MAX, true}, /* required when !ok */
    {REPLY, "id", S_TASKID, DX_TASK_ID_MAX, false},
    {SPEC, "id", S_TASKID, DX_TASK_ID_MAX, false},
    {SPEC, "device", S_NAME, DX_NAME_MAX, true}, /* actuator.set */
    {SPEC, "reply_to", S_TOPIC, DX_TOPIC_MAX, false},
    {SPEC, "corr", S_TEXT, DX_CORR_MAX, false},
    {RECORD, "id", S_TASKID, DX_TASK_ID_MAX, true},
    {RECORD, "result", S_TEXT, DX_TEXT_MAX, false},
    {RECORD, "spec.device", S_NAME, DX_NAME_MAX, false},
    {ASSIGN, "items.id", S_TASKID, DX_TASK_ID_MAX, true},
    {ASSIGN, "items.1.id", S_TASKID, DX_TASK_ID_MAX, true},
    {ASSIGN, "items.spec.device", S_NAME, DX_NAME_MAX, false},
    {ASSIGN, "items.reply_to", S_TOPIC, DX_TOPIC_MAX, false},
    {ASSIGN, "items.corr", S_TEXT, DX_CORR_MAX, false},
    {READING, "unit", S_TEXT, DX_NAME_MAX, false},
    {ACTUATOR, "reply_to", S_TOPIC, DX_TOPIC_MAX, false},
    {ACTUATOR, "corr", S_TEXT, DX_CORR_MAX, false},
    {MEMBERS, "nodes.name", S_NAME, DX_NAME_MAX, false},
    {MEMBERS, "nodes.1.name", S_NAME, DX_NAME_MAX, false},
    {REPORT, "items.id", S_TASKID, DX_TASK_ID_MAX, true},
    {REPORT, "items.1.id", S_TASKID, DX_TASK_ID_MAX, true},
    {REPORT, "items.result", S_TEXT, DX_TEXT_MAX, false},
    {REQUEST, "reply_to", S_TOPIC, DX_TOPIC_MAX, false},
    {REQUEST, "corr", S_TEXT, DX_CORR_MAX, false},
};

/* Values that break each kind of string (JSON text, ' for "). */
static const char *const bad_names[] = {
    "''", "'a/b'", "'+'", "'#'", "'.'", "'..'", "'a b'", "'a\\u0000b'",
    "'\\u0000'", "'a\\nb'", "'a\\u007fb'", "'caf\\u00e9'", "'caf\xc3\xa9'",
    "'a\\'b'", "'a\\\\b'", "'a+b'", "'a:b'",
};
static const char *const bad_topics[] = {
    "''", "'a/+/b'", "'#'", "'a/#'", "'a//b'", "'/a'", "'a/'", "'a b'",
    "'a\\u0000b'", "'a\\nb'", "'caf\\u00e9'", "'a\\u007f'",
};
static const char *const bad_texts[] = {
    "'a\\nb'", "'\\r'", "'a\\u0000b'", "'\\u0000'", "'\\u0001'", "'\\u001f'",
    "'\\u007f'", "'\\u0085'", "'\\u009f'", "'\xff'", "'\xc0\xaf'",
    "'\xed\xa0\x80'", "'\xf4\x90\x80\x80'", "'\xe2\x82'", "'\x80'",
};
static const char *const good_texts[] = {
    "'caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80'", "'\\u00e9\\u20ac'",
    "'\\ud83d\\ude00'", "'say \\'hi\\''", "'a\\\\b/c'", "'\\u00a0'",
};

static void test_string_fields(void **state)
{
    char v[1200];

    for (size_t i = 0; i < COUNT(strs); i++) {
        const str_case *t = &strs[i];
        bool text = t->kind == S_TEXT;
        int err = text ? DX_ERANGE : DX_ENAME, absent = t->req ? DX_EFIELD : OK;
        bool in_array = strchr(t->path, '.') && t->path[strlen(t->path) - 1] <= '9';

        if (!in_array) {
            assert_mut(t->c, t->path, NULL, absent);
            assert_mut(t->c, t->path, "null", absent);
        }
        assert_mut(t->c, t->path, "5", DX_EFIELD);
        assert_mut(t->c, t->path, "['a']", DX_EFIELD);
        assert_mut(t->c, t->path, "false", DX_EFIELD);
        /* longest that fits, then one byte more */
        v[0] = '\'';
        memset(v + 1, t->kind == S_TOPIC ? 'a' : '7', t->max);
        strcpy(v + 1 + t->max, "'");
        assert_mut(t->c, t->path, v, OK);
        strcpy(v + 1 + t->max, "7'");
        assert_mut(t->c, t->path, v, err);
        if (text) {
            for (size_t k = 0; k < COUNT(bad_texts); k++)
                assert_mut(t->c, t->path, bad_texts[k], DX_ERANGE);
            for (size_t k = 0; k < COUNT(good_texts); k++)
                assert_mut(t->c, t->path, good_texts[k], OK);
            /* empty text is text, but a refusal must say why */
            assert_mut(t->c, t->path, "''",
                       t->c == REPLY && strcmp(t->path, "error") == 0 ? DX_EFIELD : OK);
        } else if (t->kind == S_TOPIC) {
            for (size_t k = 0; k < COUNT(bad_topics); k++)
                assert_mut(t->c, t->path, bad_topics[k], DX_ENAME);
            assert_mut(t->c, t->path, "'a/b\\'c\\\\d'", OK);
        } else {
            for (size_t k = 0; k < COUNT(bad_names); k++)
                assert_mut(t->c, t->path, bad_names[k], DX_ENAME);
            assert_mut(t->c, t->path, "'Az09_.-'", OK);
            assert_mut(t->c, t->path, "'.a'", OK);
            assert_mut(t->c, t->path, "'submit'", t->kind == S_TASKID ? DX_ENAME : OK);
        }
    }
    /* multi-byte text counts bytes: 256 x 2 bytes fit 512, one more does not */
    strcpy(v, "'");
    for (int i = 0; i < DX_TEXT_MAX / 2; i++)
        strcat(v, "\xc3\xa9");
    strcat(v, "'");
    assert_mut(EVENT, "text", v, OK);
    strcpy(v + strlen(v) - 1, "\\u00e9'");
    assert_mut(EVENT, "text", v, DX_ERANGE);
}

/* The will's reason is a name of at most DX_REASON_MAX bytes. */
static void test_state_reason(void **state)
{
    char *fx = cc_sq(FX_WILL), *s, v[64];

    v[0] = '\'';
    memset(v + 1, 'r', DX_REASON_MAX);
    strcpy(v + 1 + DX_REASON_MAX, "'");
    s = mutate(fx, "reason", v);
    assert_int_equal(dec_raw(STATE, s, strlen(s), NULL), OK);
    free(s);
    strcpy(v + 1 + DX_REASON_MAX, "r'");
    s = mutate(fx, "reason", v);
    assert_int_equal(dec_raw(STATE, s, strlen(s), NULL), DX_ENAME);
    free(s);
    for (size_t k = 0; k < COUNT(bad_names); k++) {
        s = mutate(fx, "reason", bad_names[k]);
        assert_int_equal(dec_raw(STATE, s, strlen(s), NULL), DX_ENAME);
        free(s);
    }
    free(fx);
}

static void test_doubles(void **state)
{
    static const int cs[] = {READING, ACTUATOR, SPEC, RECORD};
    static const char *const paths[] = {"value", "value", "value", "spec.value"};
    any_msg m;

    for (size_t i = 0; i < COUNT(cs); i++) {
        int c = cs[i];
        const char *p = paths[i];
        assert_mut(c, p, "'1'", DX_EFIELD);
        assert_mut(c, p, "true", DX_EFIELD);
        assert_mut(c, p, "[1]", DX_EFIELD);
        assert_mut(c, p, "1e400", DX_ERANGE);
        assert_mut(c, p, "-1e400", DX_ERANGE);
        assert_mut(c, p, "-0", OK);
        assert_mut(c, p, "1e-320", OK);
        assert_mut(c, p, "-12345678901234567890", OK);
    }
    assert_mut(READING, "value", NULL, DX_EFIELD);
    assert_mut(ACTUATOR, "value", "null", DX_EFIELD);
    assert_mut(RECORD, "spec.value", NULL, OK);
    assert_int_equal(dec_sq(SPEC, "{'v':1,'kind':'noop','value':0}", &m), OK);
    assert_true(m.spec.has_value);
    assert_int_equal(dec_sq(SPEC, "{'v':1,'kind':'noop'}", &m), OK);
    assert_false(m.spec.has_value);
}

/* Arrays and nested objects: type, capacity, element types. */
static void test_lists(void **state)
{
    char *fx, *s;
    char v[DX_REPORT_MAX * 48 + 64];

    assert_mut(STATE, "devices", NULL, OK);
    assert_mut(STATE, "devices", "[]", OK);
    assert_mut(STATE, "devices", "'temp1'", DX_EFIELD);
    assert_mut(STATE, "devices", "{}", DX_EFIELD);
    assert_mut(STATE, "devices", "['a',1]", DX_EFIELD);
    assert_mut(STATE, "devices", "['a',null]", DX_EFIELD);
    assert_mut(STATE, "devices", "['a',['b']]", DX_EFIELD);
    strcpy(v, "[");
    for (int i = 0; i < DX_DEVICES_MAX; i++)
        sprintf(v + strlen(v), "%s'd%d'", i ? "," : "", i);
    strcat(v, "]");
    assert_mut(STATE, "devices", v, OK);
    strcpy(v + strlen(v) - 1, ",'one-more']");
    assert_mut(STATE, "devices", v, DX_ERANGE);

    assert_mut(HB, "load", NULL, DX_EFIELD);
    assert_mut(HB, "load", "[]", DX_EFIELD);
    assert_mut(HB, "load", "{}", DX_EFIELD);
    assert_mut(HB, "load", "5", DX_EFIELD);
    assert_mut(RECORD, "spec", NULL, DX_EFIELD);
    assert_mut(RECORD, "spec", "{}", DX_EFIELD);
    assert_mut(RECORD, "spec", "'compute'", DX_EFIELD);

    assert_mut(ASSIGN, "items", NULL, DX_EFIELD);
    assert_mut(ASSIGN, "items", "[]", OK);
    assert_mut(ASSIGN, "items", "{}", DX_EFIELD);
    assert_mut(ASSIGN, "items", "[1]", DX_EFIELD);
    assert_mut(ASSIGN, "items", "[{'op':'run','id':'t1'},[]]", DX_EFIELD);
    assert_mut(ASSIGN, "items.spec", "[]", DX_EFIELD);
    assert_mut(ASSIGN, "items.spec", "{}", DX_EFIELD);
    assert_mut(ASSIGN, "items.1", "{'op':'cancel'}", DX_EFIELD);
    strcpy(v, "[");
    for (int i = 0; i < DX_ASSIGN_MAX; i++)
        sprintf(v + strlen(v), "%s{'op':'cancel','id':'t%d'}", i ? "," : "", i);
    strcat(v, "]");
    assert_mut(ASSIGN, "items", v, OK);
    strcpy(v + strlen(v) - 1, ",{'op':'cancel','id':'x'}]");
    assert_mut(ASSIGN, "items", v, DX_ERANGE);

    assert_mut(MEMBERS, "nodes", NULL, DX_EFIELD);
    assert_mut(MEMBERS, "nodes", "[]", OK);
    assert_mut(MEMBERS, "nodes", "[{'id':1}]", DX_EFIELD);
    assert_mut(MEMBERS, "nodes", "[{'id':1,'state':'online'},'x']", DX_EFIELD);
    {
        static char many[DX_VIEW_MAX * 32 + 64];
        strcpy(many, "[");
        for (int i = 1; i <= DX_VIEW_MAX; i++)
            sprintf(many + strlen(many), "%s{'id':%d,'state':'online'}",
                    i > 1 ? "," : "", i);
        strcat(many, "]");
        assert_mut(MEMBERS, "nodes", many, OK);
        strcpy(many + strlen(many) - 1, ",{'id':999,'state':'online'}]");
        assert_mut(MEMBERS, "nodes", many, DX_ERANGE);
    }

    assert_mut(REPORT, "items", NULL, DX_EFIELD);
    assert_mut(REPORT, "items", "null", DX_EFIELD);
    assert_mut(REPORT, "items", "{}", DX_EFIELD);
    assert_mut(REPORT, "items", "[1]", DX_EFIELD);
    assert_mut(REPORT, "items", "[{'id':'t1','attempt':1,'state':'done'},null]", DX_EFIELD);
    assert_mut(REPORT, "items", "[{}]", DX_EFIELD);
    assert_mut(REPORT, "items.1", "{'id':'t2','state':'queued'}", DX_EFIELD);
    assert_mut(REPORT, "items.1", "{'id':'t2','attempt':2}", DX_EFIELD);
    assert_mut(REPORT, "items.1", "{'attempt':2,'state':'queued'}", DX_EFIELD);
    strcpy(v, "[");
    for (int i = 0; i < DX_REPORT_MAX; i++)
        sprintf(v + strlen(v), "%s{'id':'t%d','attempt':1,'state':'done'}",
                i ? "," : "", i);
    strcat(v, "]");
    assert_mut(REPORT, "items", v, OK);
    strcpy(v + strlen(v) - 1, ",{'id':'x','attempt':1,'state':'done'}]");
    assert_mut(REPORT, "items", v, DX_ERANGE);

    /* the count is what was decoded */
    fx = cc_sq(FX_STATE);
    s = mutate(fx, "devices", "['x']");
    {
        dx_msg_state m;
        assert_int_equal(dx_msg_state_decode(s, strlen(s), &m, NULL), OK);
        assert_int_equal(m.n_devices, 1);
        assert_string_equal(m.devices[0], "x");
    }
    free(s);
    free(fx);
}

/* Rules that tie fields together. */
static void test_cross_field(void **state)
{
    /* a birth needs a name, a will does not */
    assert_dec(STATE, "{'v':1,'id':3,'state':'online','epoch':7}", DX_EFIELD);
    assert_dec(STATE, "{'v':1,'id':3,'state':'offline','epoch':7}", OK);
    assert_dec(STATE, "{'v':1,'id':3,'state':'offline','epoch':7,'name':'a'}", OK);
    /* largest free block <= free memory */
    assert_mut(HB, "load.mem_largest_kb", "60001", DX_ERANGE);
    /* an answer names the candidate; a coordinator has a real term */
    assert_dec(ELECT, "{'v':1,'type':'answer','from':3,'term':0,'epoch':1}", DX_EFIELD);
    assert_dec(ELECT, "{'v':1,'type':'answer','from':3,'to':2,'term':0,'epoch':1}", OK);
    assert_dec(ELECT, "{'v':1,'type':'election','from':2,'term':0,'epoch':1}", OK);
    assert_dec(ELECT, "{'v':1,'type':'coordinator','from':3,'term':0,'epoch':1}", DX_ERANGE);
    assert_dec(ELECT, "{'v':1,'type':'coordinator','from':3,'term':1,'epoch':1}", OK);
    /* a refusal says why */
    assert_dec(REPLY, "{'v':1,'ok':false}", DX_EFIELD);
    assert_dec(REPLY, "{'v':1,'ok':false,'error':''}", DX_EFIELD);
    assert_dec(REPLY, "{'v':1,'ok':true}", OK);
    assert_dec(REPLY, "{'v':1,'ok':1}", DX_EFIELD);
    assert_dec(REPLY, "{'v':1,'ok':'true'}", DX_EFIELD);
    assert_dec(REPLY, "{'v':1,'corr':'x'}", DX_EFIELD);
    /* device tasks need a device; actuator.set needs a value */
    assert_dec(SPEC, "{'v':1}", DX_EFIELD);
    assert_dec(SPEC, "{'v':1,'kind':'noop'}", OK);
    assert_dec(SPEC, "{'v':1,'kind':'sensor.read'}", DX_EFIELD);
    assert_dec(SPEC, "{'v':1,'kind':'sensor.read','device':'temp1'}", OK);
    assert_dec(SPEC, "{'v':1,'kind':'actuator.set','device':'valve2'}", DX_EFIELD);
    assert_dec(SPEC, "{'v':1,'kind':'actuator.set','device':'valve2','value':0}", OK);
    assert_dec(SPEC, "{'v':1,'kind':'actuator.set','value':1}", DX_EFIELD);
    assert_mut(RECORD, "spec", "{'kind':'sensor.read'}", DX_EFIELD);
    assert_mut(ASSIGN, "items.spec", "{'kind':'actuator.set','device':'v'}", DX_EFIELD);
    /* "run" carries the spec; cancel and release need only the id */
    assert_mut(ASSIGN, "items.spec", NULL, DX_EFIELD);
    assert_mut(ASSIGN, "items.spec", "null", DX_EFIELD);
    assert_mut(ASSIGN, "items.1", "{'op':'release','id':'t2','attempt':3}", OK);
    assert_mut(ASSIGN, "items.1", "{'op':'cancel','id':'t2','spec':{'kind':'noop'}}", OK);
    assert_mut(ASSIGN, "items.1", "{'op':'run','id':'t2'}", DX_EFIELD);
    /* the record does not carry reply_to/corr: they are ignored */
    assert_mut(RECORD, "result", "'ok','reply_to':'a/b','corr':'c'", OK);
    /* "ack", like cancel and release, needs only the id (and an attempt) */
    assert_mut(ASSIGN, "items.2", "{'op':'ack','id':'t3'}", OK);
    assert_mut(ASSIGN, "items.2", "{'op':'ack','attempt':1}", DX_EFIELD);
    assert_mut(ASSIGN, "items.2", "{'op':'ack','id':'t3','spec':{'kind':'bogus'}}",
               DX_ERANGE);
    /* a report: "last" only with "sync"; empty only as an inventory */
#define R_ITEM "[{'id':'t1','attempt':1,'state':'running'}]"
    assert_dec(REPORT, "{'v':1,'node':2,'term':0,'items':" R_ITEM "}", OK);
    assert_dec(REPORT, "{'v':1,'node':2,'term':3,'sync':true,'items':" R_ITEM "}", OK);
    assert_dec(REPORT, "{'v':1,'node':2,'term':3,'last':true,'items':" R_ITEM "}",
               DX_EFIELD);
    assert_dec(REPORT, "{'v':1,'node':2,'term':3,'sync':false,'last':true,'items':"
               R_ITEM "}", DX_EFIELD);
    assert_dec(REPORT, "{'v':1,'node':2,'term':3,'sync':null,'last':true,'items':"
               R_ITEM "}", DX_EFIELD);
    assert_dec(REPORT, "{'v':1,'node':2,'term':3,'last':false,'items':" R_ITEM "}", OK);
    assert_dec(REPORT, "{'v':1,'node':2,'term':3,'items':[]}", DX_ERANGE);
    assert_dec(REPORT, "{'v':1,'node':2,'term':3,'sync':false,'items':[]}", DX_ERANGE);
    assert_dec(REPORT, "{'v':1,'node':2,'term':3,'last':true,'items':[]}", DX_EFIELD);
    assert_dec(REPORT, "{'v':1,'node':2,'term':0,'sync':true,'items':[]}", OK);
    assert_dec(REPORT, "{'v':1,'node':2,'term':0,'sync':true,'last':true,'items':[]}", OK);
    assert_dec(REPORT, "{'v':1,'node':2,'term':0,'sync':true}", DX_EFIELD);
#undef R_ITEM
    assert_mut(REPORT, "sync", "false", DX_EFIELD);
    assert_mut(REPORT, "last", "false", OK);
    assert_mut(REPORT, "sync", "false,'last':false", OK);
}

/* Optional bools are absent = false; a bool is only true or false. */
static void test_bool_fields(void **state)
{
    static const struct {
        int c;
        const char *path;
        int absent, is_false; /* the expected codes */
    } bools[] = {
        {REPLY, "ok", DX_EFIELD, OK},
        {HB, "draining", OK, OK},
        {REPORT, "sync", DX_EFIELD, DX_EFIELD}, /* the fixture's last is true */
        {REPORT, "last", OK, OK},
    };
    static const char *const mistyped[] = {"1", "0", "'true'", "'false'", "[true]",
                                           "{}", "'yes'"};

    for (size_t i = 0; i < COUNT(bools); i++) {
        assert_mut(bools[i].c, bools[i].path, NULL, bools[i].absent);
        assert_mut(bools[i].c, bools[i].path, "null", bools[i].absent);
        assert_mut(bools[i].c, bools[i].path, "false", bools[i].is_false);
        assert_mut(bools[i].c, bools[i].path, "true", OK);
        for (size_t k = 0; k < COUNT(mistyped); k++)
            assert_mut(bools[i].c, bools[i].path, mistyped[k], DX_EFIELD);
    }
}

/* Heartbeats of agents that predate "draining" and "workers" still decode,
 * and a heartbeat without them is written exactly as those agents did. */
static void test_heartbeat_compat(void **state)
{
    any_msg *m = full(HB);
    dx_msg_heartbeat got;
    char *s;
    size_t n;

    m->hb.draining = false;
    m->hb.workers = 0;
    fixture_is(HB, FX_HB_OLD, m);
    /* explicit false and 0 mean the same, and are not written back */
    s = cc_sq("{'v':1,'id':3,'epoch':7,'seq':42,'leader':3,'term':2,'load':"
          "{'cpu':12,'mem_free_kb':60000,'mem_largest_kb':50000,'running':1,"
          "'queued':2,'disk_free_kb':1048576},'rejected':0,'draining':false,"
          "'workers':0}");
    assert_int_equal(dec_raw(HB, s, strlen(s), &got), OK);
    assert_memory_equal(&got, &m->hb, sizeof got);
    free(s);
    /* each alone */
    m->hb.draining = true;
    assert_int_equal(dx_msg_heartbeat_encode(&m->hb, enc_buf, sizeof enc_buf, &n), OK);
    assert_non_null(strstr(enc_buf, "\"rejected\":0,\"draining\":true}"));
    roundtrip(HB, m);
    m->hb.draining = false;
    m->hb.workers = 4096;
    assert_int_equal(dx_msg_heartbeat_encode(&m->hb, enc_buf, sizeof enc_buf, &n), OK);
    assert_non_null(strstr(enc_buf, "\"rejected\":0,\"workers\":4096}"));
    roundtrip(HB, m);
    assert_mut(HB, "workers", "4097", DX_ERANGE);
    assert_mut(HB, "workers", "-1", DX_ERANGE);
}

/* Unknown fields are ignored and do not survive a re-encode. */
static void test_unknown_fields(void **state)
{
    for (int c = 0; c < N_CODECS; c++) {
        char *fx = cc_sq(codecs[c].fixture), *s;
        void *m = malloc(codecs[c].size);
        size_t len, n = strlen(fx);

        s = malloc(n + 64);
        sprintf(s, "{\"future\":{\"x\":[true,null,1.5e3]},\"V\":2,%s", fx + 1);
        assert_int_equal(dec_raw(c, s, strlen(s), m), OK);
        assert_int_equal(codecs[c].enc(m, enc_buf, sizeof enc_buf, &len), OK);
        assert_string_equal(enc_buf, fx);
        /* whitespace anywhere JSON allows it */
        sprintf(s, " \r\n\t%s \n", fx);
        assert_int_equal(dec_raw(c, s, strlen(s), NULL), OK);
        free(s);
        free(m);
        free(fx);
    }
    /* first of duplicate keys wins (cJSON) */
    assert_dec(LEADER, "{'v':1,'leader':3,'leader':0,'term':2,'epoch':7}", OK);
}

static void test_diagnostics(void **state)
{
    dx_msg_state st;
    dx_msg_assign as;
    dx_diag d;
    char *fx = cc_sq(FX_STATE), *s;

    s = mutate(fx, "epoch", "0");
    assert_int_equal(dx_msg_state_decode(s, strlen(s), &st, &d), DX_ERANGE);
    assert_string_equal(d.msg, "field 'epoch': expected an integer 1..9007199254740991");
    assert_int_equal(dx_msg_state_decode(s, strlen(s), &st, NULL), DX_ERANGE);
    free(s);
    s = mutate(fx, "devices.1", "'a/b'");
    assert_int_equal(dx_msg_state_decode(s, strlen(s), &st, &d), DX_ENAME);
    assert_string_equal(d.msg, "field 'devices[1]': expected 1..64 bytes of "
                               "[A-Za-z0-9_.-], not '.' or '..'");
    free(s);
    s = mutate(fx, "v", "2");
    assert_int_equal(dx_msg_state_decode(s, strlen(s), &st, &d), DX_EVERSION);
    assert_string_equal(d.msg, "field 'v': expected 1");
    free(s);
    s = mutate(fx, "state", "'up'");
    assert_int_equal(dx_msg_state_decode(s, strlen(s), &st, &d), DX_ERANGE);
    assert_string_equal(d.msg, "field 'state': expected one of online|offline");
    free(s);
    free(fx);

    fx = cc_sq(FX_ASSIGN);
    s = mutate(fx, "items.spec.ms", "-1");
    assert_int_equal(dx_msg_assign_decode(s, strlen(s), &as, &d), DX_ERANGE);
    assert_string_equal(d.msg, "field 'items[0].spec.ms': expected 0 or an "
                               "integer 1..86400000");
    free(s);
    s = mutate(fx, "items.1.id", NULL);
    assert_int_equal(dx_msg_assign_decode(s, strlen(s), &as, &d), DX_EFIELD);
    assert_string_equal(d.msg, "field 'items[1].id': missing");
    free(s);
    free(fx);

    {
        dx_msg_report *r = malloc(sizeof *r);

        fx = cc_sq(FX_REPORT);
        s = mutate(fx, "items.1.attempt", "0");
        assert_int_equal(dx_msg_report_decode(s, strlen(s), r, &d), DX_ERANGE);
        assert_string_equal(d.msg, "field 'items[1].attempt': expected an "
                                   "integer 1..4294967295");
        free(s);
        s = mutate(fx, "items.state", "'lost'");
        assert_int_equal(dx_msg_report_decode(s, strlen(s), r, &d), DX_ERANGE);
        assert_string_equal(d.msg, "field 'items[0].state': expected one of "
                                   "queued|running|done|failed|cancelled|released");
        free(s);
        s = mutate(fx, "sync", NULL);
        assert_int_equal(dx_msg_report_decode(s, strlen(s), r, &d), DX_EFIELD);
        assert_string_equal(d.msg, "field 'sync': required when last is true");
        free(s);
        free(fx);
        fx = cc_sq("{'v':1,'node':2,'term':3,'items':[]}");
        assert_int_equal(dx_msg_report_decode(fx, strlen(fx), r, &d), DX_ERANGE);
        assert_string_equal(d.msg, "field 'items': empty, allowed only when "
                                   "sync is true");
        free(fx);
        free(r);
    }

    assert_int_equal(dx_msg_leader_decode("{\"v\":1", 6, NULL, &d), DX_EINVAL);
    assert_int_equal(dx_msg_leader_decode(NULL, 3, (dx_msg_leader *)(void *)&st, &d),
                     DX_EINVAL);
    assert_int_equal(dx_msg_leader_decode(NULL, 0, (dx_msg_leader *)(void *)&st, &d),
                     DX_EJSON);
    assert_string_equal(d.msg, "empty payload");
}


/* ---- encoders refuse what decoders would refuse ---- */
static void test_encode_invalid(void **state)
{
    any_msg *m;
    size_t n;

    assert_int_equal(dx_msg_leader_encode(NULL, enc_buf, sizeof enc_buf, &n), DX_EINVAL);
    assert_int_equal(dx_msg_leader_encode(&full(LEADER)->leader, NULL, 10, &n), DX_EINVAL);
    assert_int_equal(dx_msg_leader_encode(&full(LEADER)->leader, enc_buf, 10, NULL),
                     DX_EINVAL);

    m = full(STATE); m->state.id = 0; assert_enc(STATE, m, DX_ERANGE);
    m = full(STATE); m->state.epoch = 0; assert_enc(STATE, m, DX_ERANGE);
    m = full(STATE); m->state.epoch = (uint64_t)DX_INT_MAX + 1; assert_enc(STATE, m, DX_ERANGE);
    m = full(STATE); m->state.heartbeat_ms = 9; assert_enc(STATE, m, DX_ERANGE);
    m = full(STATE); m->state.state = 0; assert_enc(STATE, m, DX_ERANGE);
    m = full(STATE); m->state.state = 3; assert_enc(STATE, m, DX_ERANGE);
    m = full(STATE); m->state.state = (dx_wire_state)-1; assert_enc(STATE, m, DX_ERANGE);
    m = full(STATE); strcpy(m->state.name, "a/b"); assert_enc(STATE, m, DX_ENAME);
    m = full(STATE); m->state.name[0] = '\0'; assert_enc(STATE, m, DX_EFIELD);
    m = full(STATE); memset(m->state.name, 'a', sizeof m->state.name); assert_enc(STATE, m, DX_ENAME);
    m = full(STATE); memset(m->state.reason, 'a', sizeof m->state.reason); assert_enc(STATE, m, DX_ENAME);
    m = full(STATE); m->state.n_devices = DX_DEVICES_MAX + 1; assert_enc(STATE, m, DX_ERANGE);
    m = full(STATE); m->state.n_devices = 3; assert_enc(STATE, m, DX_ENAME);
    m = full(STATE); strcpy(m->state.devices[1], ".."); assert_enc(STATE, m, DX_ENAME);
    m = full(STATE); strcpy(m->state.devices[2], ".."); assert_enc(STATE, m, OK);

    m = full(HB); m->hb.load.cpu_pct = 101; assert_enc(HB, m, DX_ERANGE);
    m = full(HB); m->hb.load.mem_largest_kb = 60001; assert_enc(HB, m, DX_ERANGE);
    m = full(HB); m->hb.seq = 0; assert_enc(HB, m, DX_ERANGE);
    m = full(HB); m->hb.workers = 4097; assert_enc(HB, m, DX_ERANGE);
    m = full(HB); m->hb.workers = UINT32_MAX; assert_enc(HB, m, DX_ERANGE);

    m = full(ELECT); m->elect.type = DX_ELECT_ANSWER; m->elect.to = 0;
    assert_enc(ELECT, m, DX_EFIELD);
    m = full(ELECT); m->elect.type = DX_ELECT_COORDINATOR; m->elect.term = 0;
    assert_enc(ELECT, m, DX_ERANGE);
    m = full(LEADER); m->leader.leader = 0; assert_enc(LEADER, m, DX_ERANGE);

    m = full(CMD); m->cmd.cmd = 7; assert_enc(CMD, m, DX_ERANGE);
    m = full(CMD); m->cmd.for_ms = 86400001; assert_enc(CMD, m, DX_ERANGE);
    m = full(CMD); strcpy(m->cmd.reply_to, "a/+"); assert_enc(CMD, m, DX_ENAME);
    m = full(CMD); strcpy(m->cmd.corr, "a\nb"); assert_enc(CMD, m, DX_ERANGE);
    m = full(CMD); memset(m->cmd.corr, 'c', sizeof m->cmd.corr); assert_enc(CMD, m, DX_ERANGE);

    m = full(EVENT); strcpy(m->event.text, "tab\there"); assert_enc(EVENT, m, DX_ERANGE);
    m = full(EVENT); strcpy(m->event.text, "bad \xff"); assert_enc(EVENT, m, DX_ERANGE);
    m = full(EVENT); m->event.text[0] = '\0'; assert_enc(EVENT, m, OK);
    m = full(EVENT); m->event.kind[0] = '\0'; assert_enc(EVENT, m, DX_ENAME);
    m = full(EVENT); m->event.ts_ms = -1; assert_enc(EVENT, m, DX_ERANGE);

    m = full(REPLY); m->reply.error[0] = '\0'; assert_enc(REPLY, m, DX_EFIELD);
    m = full(REPLY); strcpy(m->reply.id, "submit"); assert_enc(REPLY, m, DX_ENAME);

    m = full(SPEC); m->spec.kind = 0; assert_enc(SPEC, m, DX_ERANGE);
    m = full(SPEC); m->spec.every_ms = 5; assert_enc(SPEC, m, DX_ERANGE);
    m = full(SPEC); m->spec.mem_kb = 16777217; assert_enc(SPEC, m, DX_ERANGE);
    m = full(SPEC); m->spec.has_value = false; assert_enc(SPEC, m, DX_EFIELD);
    m = full(SPEC); m->spec.value = NAN; assert_enc(SPEC, m, DX_ERANGE);
    m = full(SPEC); m->spec.value = -INFINITY; assert_enc(SPEC, m, DX_ERANGE);
    m = full(SPEC); m->spec.kind = DX_TASK_NOOP; m->spec.has_value = false;
    m->spec.value = NAN; assert_enc(SPEC, m, OK); /* no value: not written */
    m = full(SPEC); memset(m->spec.id, 'a', DX_TASK_ID_MAX + 1); assert_enc(SPEC, m, DX_ENAME);

    m = full(RECORD); m->record.spec.id[0] = '\0'; assert_enc(RECORD, m, DX_ENAME);
    m = full(RECORD); m->record.state = 7; assert_enc(RECORD, m, DX_ERANGE);
    m = full(RECORD); m->record.spec.kind = 0; assert_enc(RECORD, m, DX_ERANGE);
    m = full(RECORD); m->record.finished_ms = INT64_MIN; assert_enc(RECORD, m, DX_ERANGE);
    m = full(RECORD); m->record.runs = (uint64_t)DX_INT_MAX + 1; assert_enc(RECORD, m, DX_ERANGE);

    m = full(ASSIGN); m->assign.n = DX_ASSIGN_MAX + 1; assert_enc(ASSIGN, m, DX_ERANGE);
    m = full(ASSIGN); m->assign.items[0].op = 0; assert_enc(ASSIGN, m, DX_ERANGE);
    m = full(ASSIGN); m->assign.items[1].op = DX_ASSIGN_RUN; assert_enc(ASSIGN, m, DX_EFIELD);
    m = full(ASSIGN); m->assign.items[1].spec.id[0] = '\0'; assert_enc(ASSIGN, m, DX_ENAME);
    m = full(ASSIGN); m->assign.n = 4; assert_enc(ASSIGN, m, DX_ERANGE);
    m = full(ASSIGN); m->assign.items[2].op = DX_ASSIGN_ACK + 1; assert_enc(ASSIGN, m, DX_ERANGE);
    m = full(ASSIGN); m->assign.n = 0; assert_enc(ASSIGN, m, OK);
    assert_string_equal(enc_buf, "{\"v\":1,\"term\":2,\"leader\":3,\"items\":[]}");

    m = full(READING); m->reading.value = INFINITY; assert_enc(READING, m, DX_ERANGE);
    m = full(READING); m->reading.seq = 0; assert_enc(READING, m, DX_ERANGE);
    m = full(ACTUATOR); m->act.value = NAN; assert_enc(ACTUATOR, m, DX_ERANGE);

    m = full(REPORT); m->report.node = 0; assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); m->report.term = (uint64_t)DX_INT_MAX + 1; assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); m->report.sync = false; assert_enc(REPORT, m, DX_EFIELD);
    m = full(REPORT); m->report.sync = m->report.last = false; assert_enc(REPORT, m, OK);
    m = full(REPORT); m->report.n = 0; m->report.sync = m->report.last = false;
    assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); m->report.n = DX_REPORT_MAX + 1; assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); m->report.n = 3; assert_enc(REPORT, m, DX_ENAME);
    m = full(REPORT); m->report.items[1].attempt = 0; assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); m->report.items[1].state = 0; assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); m->report.items[1].state = DX_REP_RELEASED + 1; assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); strcpy(m->report.items[0].id, "submit"); assert_enc(REPORT, m, DX_ENAME);
    m = full(REPORT); m->report.items[0].started_ms = -1; assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); m->report.items[0].runs = (uint64_t)DX_INT_MAX + 1; assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); strcpy(m->report.items[0].result, "a\nb"); assert_enc(REPORT, m, DX_ERANGE);
    m = full(REPORT); memset(m->report.items[0].result, 'r', DX_TEXT_MAX + 1);
    assert_enc(REPORT, m, DX_ERANGE);

    m = full(REQUEST); strcpy(m->request.reply_to, "a/#"); assert_enc(REQUEST, m, DX_ENAME);
    m = full(REQUEST); memset(m->request.corr, 'c', DX_CORR_MAX + 1); assert_enc(REQUEST, m, DX_ERANGE);
}

/* Zero optional fields are left out; the minimal messages. */
static void test_encode_minimal(void **state)
{
    dx_task_spec sp;
    dx_msg_reply r;
    size_t n;

    memset(&sp, 0, sizeof sp);
    sp.kind = DX_TASK_NOOP;
    assert_int_equal(dx_task_spec_encode(&sp, enc_buf, sizeof enc_buf, &n), OK);
    assert_string_equal(enc_buf, "{\"v\":1,\"kind\":\"noop\"}");
    memset(&r, 0, sizeof r);
    r.ok = true;
    assert_int_equal(dx_msg_reply_encode(&r, enc_buf, sizeof enc_buf, &n), OK);
    assert_string_equal(enc_buf, "{\"v\":1,\"ok\":true}");
    assert_int_equal(n, 17);
    /* exactly len + 1 bytes is enough */
    assert_int_equal(dx_msg_reply_encode(&r, enc_buf, 18, &n), OK);
    assert_int_equal(dx_msg_reply_encode(&r, enc_buf, 17, &n), DX_ENOSPACE);
    /* an empty inventory; a request without a body */
    {
        any_msg *m = full(REPORT);

        m->report.last = false;
        m->report.term = 0;
        m->report.n = 0;
        memset(m->report.items, 0, sizeof m->report.items);
        assert_enc(REPORT, m, OK);
        assert_string_equal(enc_buf, "{\"v\":1,\"node\":2,\"term\":0,"
                                     "\"sync\":true,\"items\":[]}");
        roundtrip(REPORT, m);
        m = full(REQUEST);
        memset(&m->request, 0, sizeof m->request);
        assert_enc(REQUEST, m, OK);
        assert_string_equal(enc_buf, "{\"v\":1}");
        roundtrip(REQUEST, m);
    }
}

/* ---- reply_target: where to send the error about a broken request ---- */
#define GARBLED ((char)0xa5)

/* dx_msg_reply_target on an exact-size heap copy of len bytes; checks the
 * outputs are terminated and empty on DX_ENOTFOUND. */
static int target_raw(const char *bytes, size_t len, char *reply_to, char *corr)
{
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    assert_non_null(copy);
    memcpy(copy, bytes, len);
    memset(reply_to, GARBLED, DX_TOPIC_MAX + 1);
    memset(corr, GARBLED, DX_CORR_MAX + 1);
    rc = dx_msg_reply_target(copy, len, reply_to, corr);
    free(copy);
    assert_non_null(memchr(reply_to, '\0', DX_TOPIC_MAX + 1));
    assert_non_null(memchr(corr, '\0', DX_CORR_MAX + 1));
    if (rc == OK) {
        assert_true(dx_topic_is_publishable(reply_to));
    } else {
        assert_int_equal(rc, DX_ENOTFOUND);
        assert_string_equal(reply_to, "");
        assert_string_equal(corr, "");
    }
    return rc;
}

/* The target of a payload written with ' for ": reply_to and corr as
 * expected, or DX_ENOTFOUND when want_to is NULL. */
static void check_target(int line, const char *sq, const char *want_to,
                         const char *want_corr)
{
    char *s = cc_sq(sq), to[DX_TOPIC_MAX + 1], corr[DX_CORR_MAX + 1];
    int rc = target_raw(s, strlen(s), to, corr);

    free(s);
    if (want_to == NULL && rc != DX_ENOTFOUND)
        fail_msg("line %d: %s -> %s '%s', expected not found", line, sq,
                 dx_strerror(rc), to);
    if (want_to != NULL &&
        (rc != OK || strcmp(to, want_to) != 0 || strcmp(corr, want_corr) != 0))
        fail_msg("line %d: %s -> %s '%s' '%s', expected '%s' '%s'", line, sq,
                 dx_strerror(rc), to, corr, want_to, want_corr);
}
#define assert_target(sq, to, corr) check_target(__LINE__, sq, to, corr)

static void test_reply_target(void **state)
{
    static const char *const bad_corrs[] = {
        "5", "null", "true", "['c']", "{}", "'a\\nb'", "'\\u0000'", "'c\\u0085'",
        "'\xff'",
    };
    char v[DX_TOPIC_MAX + 64], to[DX_TOPIC_MAX + 1], corr[DX_CORR_MAX + 1];

    /* the case it exists for: a request that fails to decode */
    assert_target("{'v':1,'kind':'bogus','reply_to':'r/x','corr':'c1'}", "r/x", "c1");
    assert_dec(SPEC, "{'v':1,'kind':'bogus','reply_to':'r/x','corr':'c1'}", DX_ERANGE);
    assert_target("{'v':2,'reply_to':'r/x','corr':'c1'}", "r/x", "c1");
    assert_target("{'reply_to':'r/x'}", "r/x", "");
    assert_target("{'v':1,'cmd':'fail','for_ms':-1,'reply_to':'r/x','corr':'c'}", "r/x", "c");
    assert_target("{'v':1,'id':'a/b','kind':'noop','mem_kb':1e9,'reply_to':'r/x'}", "r/x", "");
    assert_target("{'corr':'c1','x':[{'y':null}],'reply_to':'distribux/plant/reply/ops-1'}",
                  "distribux/plant/reply/ops-1", "c1");
    /* and on the good ones, the same answer as the decoders */
    for (int c = 0; c < N_CODECS; c++) {
        char *fx = cc_sq(codecs[c].fixture);
        int rc = target_raw(fx, strlen(fx), to, corr);
        if (strstr(fx, "\"reply_to\":\"distribux/plant/reply/cli-1\"") != NULL &&
            c != ASSIGN) {
            assert_int_equal(rc, OK);
            assert_string_equal(to, "distribux/plant/reply/cli-1");
            assert_true(strcmp(corr, "c-17") == 0 || strcmp(corr, "c-9") == 0);
        } else {
            assert_int_equal(rc, DX_ENOTFOUND); /* assign: only in items */
        }
        free(fx);
    }
    /* reply_to must be a publishable topic of at most 256 bytes */
    assert_target("{'v':1,'corr':'c1'}", NULL, NULL);
    assert_target("{}", NULL, NULL);
    for (size_t k = 0; k < COUNT(bad_topics); k++) {
        snprintf(v, sizeof v, "{'reply_to':%s,'corr':'c1'}", bad_topics[k]);
        assert_target(v, NULL, NULL);
    }
    assert_target("{'reply_to':5,'corr':'c1'}", NULL, NULL);
    assert_target("{'reply_to':null,'corr':'c1'}", NULL, NULL);
    assert_target("{'reply_to':true}", NULL, NULL);
    assert_target("{'reply_to':['r/x']}", NULL, NULL);
    assert_target("{'reply_to':{'reply_to':'r/x'}}", NULL, NULL);
    assert_target("{'x':{'reply_to':'r/x'}}", NULL, NULL);
    assert_target("{'Reply_to':'r/x'}", NULL, NULL);
    assert_target("{'reply_to ':'r/x'}", NULL, NULL);
    strcpy(v, "{'reply_to':'");
    memset(v + strlen(v), 'a', DX_TOPIC_MAX);
    strcpy(v + 13 + DX_TOPIC_MAX, "'}");
    {
        char *s = cc_sq(v);
        assert_int_equal(target_raw(s, strlen(s), to, corr), OK);
        assert_int_equal(strlen(to), DX_TOPIC_MAX);
        free(s);
    }
    strcpy(v + 13 + DX_TOPIC_MAX, "a'}");
    assert_target(v, NULL, NULL);
    /* a bad corr is dropped, the reply still goes out */
    for (size_t k = 0; k < COUNT(bad_corrs); k++) {
        snprintf(v, sizeof v, "{'reply_to':'r/x','corr':%s}", bad_corrs[k]);
        assert_target(v, "r/x", "");
    }
    strcpy(v, "{'reply_to':'r/x','corr':'");
    memset(v + strlen(v), 'c', DX_CORR_MAX);
    strcpy(v + 26 + DX_CORR_MAX, "'}");
    {
        char want[DX_CORR_MAX + 1];
        fill(want, DX_CORR_MAX, 'c');
        assert_target(v, "r/x", want);
    }
    strcpy(v + 26 + DX_CORR_MAX, "c'}");
    assert_target(v, "r/x", "");
    assert_target("{'reply_to':'r/x','corr':'caf\xc3\xa9 \\u20ac'}", "r/x", "caf\xc3\xa9 \xe2\x82\xac");
    /* escapes, duplicates (the first wins, as in the decoders) */
    assert_target("{'reply_to':'r\\/x\\u0041','corr':'\\'q\\''}", "r/xA", "\"q\"");
    assert_target("{'reply_to':'r/a','reply_to':'r/b'}", "r/a", "");
    assert_target("{'reply_to':'r/\\u0000x','corr':'c1'}", NULL, NULL);
    /* corr may be NULL; reply_to may not */
    assert_int_equal(dx_msg_reply_target("{\"reply_to\":\"r/x\"}", 18, to, NULL), OK);
    assert_string_equal(to, "r/x");
    assert_int_equal(dx_msg_reply_target("{\"reply_to\":\"r/x\"}", 18, NULL, corr),
                     DX_EINVAL);
}

/* Whatever the bytes: not found, never a crash or a read past len. */
static void test_reply_target_hostile(void **state)
{
    static const char *const not_objects[] = {
        "", " ", "[{'reply_to':'r/x'}]", "'r/x'", "{'reply_to':'r/x'",
        "{'reply_to':'r/x',}", "{'reply_to':'r/x'} x", "{'reply_to':'r/x'}{}",
        "{'reply_to':'r/x'}}", "{reply_to:'r/x'}", "{'reply_to' 'r/x'}",
        "{'reply_to':'r/x','a':'\\x'}", "{'reply_to':'r/x','a':NaN}",
        "{'reply_to':'r/x\x01'}", "{'reply_to':'r/x','a':'\n'}", "null",
        "{'reply_to':'r/x','d':[[[[[[[[1]]]]]]]]}",
    };
    static const char broken[] = "{\"v\":1,\"kind\":\"bogus\",\"reply_to\":\"r/x\",\"corr\":\"c1\"}";
    char to[DX_TOPIC_MAX + 1], corr[DX_CORR_MAX + 1];
    char *big = malloc(DX_PAYLOAD_MAX + 2);
    uint64_t x = 0x2545f4914f6cdd1du;
    unsigned char buf[300];
    size_t n = sizeof broken - 1;

    for (size_t i = 0; i < COUNT(not_objects); i++)
        assert_target(not_objects[i], NULL, NULL);
    /* the depth limit is the decoders' own: 8 passes, 9 does not */
    assert_target("{'reply_to':'r/x','d':[[[[[[[1]]]]]]]}", "r/x", "");
    /* every proper prefix; len ends the input, not a NUL */
    for (size_t len = 0; len < n; len++)
        assert_int_equal(target_raw(broken, len, to, corr), DX_ENOTFOUND);
    assert_int_equal(target_raw(broken, n, to, corr), OK);
    assert_int_equal(target_raw("{\"reply_to\":\"r/x\"}garbage", 18, to, corr), OK);
    assert_int_equal(target_raw("{\"reply_to\":\"r/x\"}\0", 19, to, corr), DX_ENOTFOUND);
    assert_int_equal(target_raw("{\"reply_to\":\"r/\0x\"}", 19, to, corr), DX_ENOTFOUND);
    assert_int_equal(dx_msg_reply_target(NULL, 0, to, corr), DX_ENOTFOUND);
    assert_int_equal(dx_msg_reply_target(NULL, 5, to, corr), DX_ENOTFOUND);
    /* the size limit: padded to 65536 bytes it is found, one more is not */
    memset(big, ' ', DX_PAYLOAD_MAX + 1);
    memcpy(big, broken, n);
    assert_int_equal(target_raw(big, DX_PAYLOAD_MAX, to, corr), OK);
    assert_int_equal(target_raw(big, DX_PAYLOAD_MAX + 1, to, corr), DX_ENOTFOUND);
    /* 10,000 levels deep */
    for (size_t i = 0; i < 10000; i++)
        memcpy(big + 5 * i, "{\"a\":", 5);
    assert_int_equal(target_raw(big, 50000, to, corr), DX_ENOTFOUND);
    free(big);
    /* random bytes */
    for (int round = 0; round < 3000; round++) {
        size_t len = 1 + (size_t)(x % sizeof buf);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (unsigned char)(x >> 24);
        }
        if (round % 2 == 0)
            buf[0] = '{'; /* an object that opens, then noise */
        assert_int_equal(target_raw((char *)buf, len, to, corr), DX_ENOTFOUND);
    }
}

/* ---- names and ids ---- */
static void test_enum_names(void **state)
{
    dx_cmd_type cmd;
    dx_task_kind kind;
    dx_task_state ts;

    assert_string_equal(dx_wire_state_name(DX_WIRE_ONLINE), "online");
    assert_string_equal(dx_wire_state_name(DX_WIRE_OFFLINE), "offline");
    assert_null(dx_wire_state_name(0));
    assert_string_equal(dx_elect_type_name(DX_ELECT_COORDINATOR), "coordinator");
    assert_null(dx_elect_type_name(4));
    assert_string_equal(dx_cmd_name(DX_CMD_UNDRAIN), "undrain");
    assert_string_equal(dx_cmd_name(DX_CMD_SCRUB), "scrub");
    assert_null(dx_cmd_name((dx_cmd_type)(DX_CMD_SCRUB + 1)));
    assert_null(dx_cmd_name((dx_cmd_type)-1));
    assert_string_equal(dx_task_kind_name(DX_TASK_SENSOR_READ), "sensor.read");
    assert_string_equal(dx_task_state_name(DX_TS_CANCELLED), "cancelled");
    assert_null(dx_task_state_name(7));

    assert_int_equal(dx_cmd_parse("hang", &cmd), OK);
    assert_int_equal(cmd, DX_CMD_HANG);
    assert_int_equal(dx_cmd_parse("scrub", &cmd), OK);
    assert_int_equal(cmd, DX_CMD_SCRUB);
    assert_int_equal(dx_cmd_parse("scrubs", &cmd), DX_EINVAL);
    assert_int_equal(dx_cmd_parse("Hang", &cmd), DX_EINVAL);
    assert_int_equal(dx_cmd_parse(NULL, &cmd), DX_EINVAL);
    assert_int_equal(dx_task_kind_parse("actuator.set", &kind), OK);
    assert_int_equal(kind, DX_TASK_ACTUATOR_SET);
    assert_int_equal(dx_task_kind_parse("", &kind), DX_EINVAL);
    assert_int_equal(dx_task_state_parse("running", &ts), OK);
    assert_int_equal(ts, DX_TS_RUNNING);
    assert_int_equal(dx_task_state_parse("runnin", &ts), DX_EINVAL);
    assert_string_equal(dx_report_state_name(DX_REP_QUEUED), "queued");
    assert_string_equal(dx_report_state_name(DX_REP_RUNNING), "running");
    assert_string_equal(dx_report_state_name(DX_REP_RELEASED), "released");
    assert_null(dx_report_state_name(0));
    assert_null(dx_report_state_name(DX_REP_RELEASED + 1));
    assert_null(dx_report_state_name((dx_report_state)-1));
    assert_string_equal(dx_view_state_name(DX_VIEW_ONLINE), "online");
    assert_string_equal(dx_view_state_name(DX_VIEW_FAILED), "failed");
    assert_string_equal(dx_view_state_name(DX_VIEW_OFFLINE), "offline");
    assert_null(dx_view_state_name(0));
    assert_null(dx_view_state_name(4));
    assert_string_equal(dx_view_why_name(DX_VIEW_WHY_NONE), "");
    assert_string_equal(dx_view_why_name(DX_VIEW_WHY_WILL), "will");
    assert_string_equal(dx_view_why_name(DX_VIEW_WHY_TIMEOUT), "timeout");
    assert_string_equal(dx_view_why_name(DX_VIEW_WHY_SHUTDOWN), "shutdown");
    assert_null(dx_view_why_name(4));
    assert_null(dx_view_why_name((dx_view_why)-1));
    /* each name is the one the decoder takes */
    for (int k = DX_REP_QUEUED; k <= DX_REP_RELEASED; k++) {
        char v[128];
        dx_msg_report r;

        snprintf(v, sizeof v, "{'v':1,'node':1,'term':1,'items':[{'id':'a',"
                 "'attempt':1,'state':'%s'}]}", dx_report_state_name((dx_report_state)k));
        assert_int_equal(dec_sq(REPORT, v, &r), OK);
        assert_int_equal(r.items[0].state, k);
    }
    for (int k = DX_TASK_NOOP; k <= DX_TASK_ACTUATOR_SET; k++) {
        assert_int_equal(dx_task_kind_parse(dx_task_kind_name((dx_task_kind)k), &kind), OK);
        assert_int_equal(kind, k);
    }
}

/* {root}/replica/tasks: records and clears survive a round trip in
 * order; a batch needs leader and term, rejects a bad record, and an empty
 * batch is valid. */
static void test_replica(void **state)
{
    (void)state;
    dx_msg_replica *m = calloc(1, sizeof *m), *b = calloc(1, sizeof *b);
    static char buf[DX_PAYLOAD_MAX];
    size_t n = 0;
    dx_diag d = {{0}};
    assert_non_null(m);
    assert_non_null(b);
    m->leader = 3;
    m->term = 9;
    for (size_t i = 0; i < DX_REPLICA_MAX; i++) {
        dx_task_record *r = &m->records[i];
        snprintf(r->spec.id, sizeof r->spec.id, "t9-%zu", i);
        r->spec.kind = DX_TASK_NOOP;
        r->state = i % 2 ? DX_TS_DONE : DX_TS_ASSIGNED;
        r->node = 2;
        r->attempt = 1;
        r->term = 9;
        r->submitted_ms = 1700000000000LL;
        if (i % 2)
            snprintf(r->result, sizeof r->result, "ok \"%zu\"", i);
    }
    m->n = DX_REPLICA_MAX;
    snprintf(m->cleared[0].id, sizeof m->cleared[0].id, "old-1");
    m->n_cleared = 1;
    assert_int_equal(dx_msg_replica_encode(m, buf, sizeof buf, &n), OK);
    assert_int_equal(dx_msg_replica_decode(buf, n, b, &d), OK);
    assert_int_equal(b->leader, 3);
    assert_int_equal(b->term, 9);
    assert_int_equal(b->n, DX_REPLICA_MAX);
    assert_string_equal(b->records[5].spec.id, "t9-5");
    assert_int_equal(b->records[5].state, DX_TS_DONE);
    assert_string_equal(b->records[5].result, "ok \"5\"");
    assert_int_equal(b->records[4].state, DX_TS_ASSIGNED);
    assert_int_equal(b->records[4].spec.kind, DX_TASK_NOOP);
    assert_int_equal(b->n_cleared, 1);
    assert_string_equal(b->cleared[0].id, "old-1");

    const char *empty = "{\"v\":1,\"leader\":1,\"term\":2}";
    assert_int_equal(dx_msg_replica_decode(empty, strlen(empty), b, &d), OK);
    assert_int_equal(b->n + b->n_cleared, 0);
    const char *noterm = "{\"v\":1,\"leader\":1,\"records\":[]}";
    assert_int_equal(dx_msg_replica_decode(noterm, strlen(noterm), b, &d),
                     DX_EFIELD);
    const char *badrec = "{\"v\":1,\"leader\":1,\"term\":2,\"records\":"
                         "[{\"id\":\"x\",\"state\":\"lost\",\"spec\":"
                         "{\"kind\":\"noop\"}}]}";
    assert_true(dx_msg_replica_decode(badrec, strlen(badrec), b, &d) < 0);
    const char *badclr = "{\"v\":1,\"leader\":1,\"term\":2,\"cleared\":"
                         "[{\"id\":\"submit\"}]}";
    assert_true(dx_msg_replica_decode(badclr, strlen(badclr), b, &d) < 0);
    free(m);
    free(b);
}

static void test_task_id(void **state)
{
    char id[DX_TASK_ID_MAX + 2];

    assert_true(dx_task_id_is_valid("t1"));
    assert_true(dx_task_id_is_valid("job_7.retry-2"));
    assert_true(dx_task_id_is_valid("submitted"));
    assert_false(dx_task_id_is_valid("submit"));
    assert_false(dx_task_id_is_valid(""));
    assert_false(dx_task_id_is_valid("."));
    assert_false(dx_task_id_is_valid(".."));
    assert_false(dx_task_id_is_valid("a/b"));
    assert_false(dx_task_id_is_valid("+"));
    assert_false(dx_task_id_is_valid("#"));
    assert_false(dx_task_id_is_valid(NULL));
    fill(id, DX_TASK_ID_MAX, 'x');
    assert_true(dx_task_id_is_valid(id));
    fill(id, DX_TASK_ID_MAX + 1, 'x');
    assert_false(dx_task_id_is_valid(id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_roundtrip_full),
        cmocka_unit_test(test_roundtrip_extremes),
        cmocka_unit_test(test_roundtrip_max_assign),
        cmocka_unit_test(test_roundtrip_max_members),
        cmocka_unit_test(test_roundtrip_max_report),
        cmocka_unit_test(test_heartbeat_compat),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_payload_limit),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_depth_scan),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_strings_raw),
        cmocka_unit_test(test_int_fields),
        cmocka_unit_test(test_enum_fields),
        cmocka_unit_test(test_string_fields),
        cmocka_unit_test(test_state_reason),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_cross_field),
        cmocka_unit_test(test_bool_fields),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_diagnostics),
        cmocka_unit_test(test_encode_invalid),
        cmocka_unit_test(test_encode_minimal),
        cmocka_unit_test(test_reply_target),
        cmocka_unit_test(test_reply_target_hostile),
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_task_id),
        cmocka_unit_test(test_replica),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
